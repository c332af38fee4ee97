//! serde's type errors in plain words: `invalid type: string "4", expected usize` becomes
//! `expected an integer, found a string ("4")`.

/// The plain form of a deserialization message; other messages are returned as they are.
pub(super) fn plain(message: &str) -> String {
    if message.contains("untagged enum TargetModules") {
        return "expected a list of module names, \"all-linear\" or a regular expression".into();
    }
    let Some((found, expected)) = message
        .strip_prefix("invalid type: ")
        .and_then(|m| m.split_once(", expected "))
    else {
        return message.to_string();
    };
    format!(
        "expected {}, found {}",
        expected_words(expected),
        found_words(found)
    )
}

fn expected_words(expected: &str) -> &str {
    match expected {
        "usize" | "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64" => "an integer",
        "f32" | "f64" => "a number",
        "a sequence" => "a list",
        "a map" => "a table",
        other => other,
    }
}

/// serde's `string "4"`, `integer `4``, `floating point `1.5``, `boolean `true``, `sequence`,
/// `map`.
fn found_words(found: &str) -> String {
    let (kind, value) = found.split_once(' ').unwrap_or((found, ""));
    let value = value.trim_matches('`');
    let kind = match kind {
        "string" => "a string",
        "integer" => "an integer",
        "floating" => "a number",
        "boolean" => "a boolean",
        "sequence" => "a list",
        "map" => "a table",
        other => return other.to_string(),
    };
    let value = value
        .strip_prefix("point ")
        .unwrap_or(value)
        .trim_matches('`');
    if value.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} ({value})")
    }
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn serde_type_errors_in_plain_words() {
        assert_eq!(
            plain("invalid type: string \"4\", expected usize"),
            "expected an integer, found a string (\"4\")"
        );
        assert_eq!(
            plain("invalid type: floating point `1.5`, expected usize"),
            "expected an integer, found a number (1.5)"
        );
        assert_eq!(
            plain("invalid type: integer `3`, expected a boolean"),
            "expected a boolean, found an integer (3)"
        );
        assert_eq!(
            plain("invalid type: sequence, expected f64"),
            "expected a number, found a list"
        );
        assert_eq!(plain("unknown variant `x`"), "unknown variant `x`");
    }
}
