//! How the search report writes parameter values and objectives: short, and the same in every
//! chart and table.
use serde_json::Value;

/// Where a parameter's value sits on a chart's axis (`None`: not on it).
pub(crate) type Placer = Box<dyn Fn(&Value) -> Option<f64>>;

/// `0.000316` → `3.16e-4`, `0.125` → `0.125`, `16` → `16`.
pub(crate) fn number_label(x: f64) -> String {
    let a = x.abs();
    if x == x.trunc() && a < 1e6 {
        format!("{x:.0}")
    } else if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{x:.2e}")
    } else {
        let s = format!("{x:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A parameter value as a person writes it: `q`, `[q, v]`, `3.16e-4`.
pub(crate) fn value_label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => number_label(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(value_label).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_stay_short() {
        assert_eq!(number_label(0.000316228), "3.16e-4");
        assert_eq!(number_label(0.125), "0.125");
        assert_eq!(number_label(16.0), "16");
        assert_eq!(number_label(0.91234567), "0.9123");
        assert_eq!(value_label(&serde_json::json!(["q", "v"])), "[q, v]");
        assert_eq!(value_label(&serde_json::json!(8)), "8");
        assert_eq!(value_label(&serde_json::json!("linear")), "linear");
    }
}
