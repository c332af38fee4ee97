//! Prompt templates with `{column}` placeholders.
use crate::jsonl::Row;

/// Fills `{column}` placeholders from a row; `{{` and `}}` are literal braces.
/// Returns the name of the first column the row lacks.
pub fn render(template: &str, row: &Row) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(template.len() + 256);
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                match row.get(&name) {
                    Some(serde_json::Value::String(s)) => out.push_str(s),
                    Some(serde_json::Value::Null) | None => return Err(name),
                    Some(other) => out.push_str(&other.to_string()),
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_columns() {
        let row: Row = serde_json::from_str(r#"{"dialogue": "A: hi", "n": 3}"#).unwrap();
        assert_eq!(
            render("Summarize:\n\n{dialogue}\n\nSummary: {n} {{x}}", &row).unwrap(),
            "Summarize:\n\nA: hi\n\nSummary: 3 {x}"
        );
        assert_eq!(render("{missing}", &row).unwrap_err(), "missing");
    }
}
