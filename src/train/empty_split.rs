//! "no training examples", explained: which file, and which of the recipe's filters took its
//! rows away (rows skipped as empty, the validation share carved off, the sample size).
use crate::error::Error;
use crate::recipe::DataSection;

/// How many training rows each step left.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrainCounts {
    /// Rows read from the file.
    pub(crate) rows: usize,
    /// Examples made from them (rows with an empty field are skipped with `data.skip_empty`).
    pub(crate) examples: usize,
    /// Left after `data.validation_fraction` carved off the validation share.
    pub(crate) after_validation: usize,
    /// Left after the `data.train_samples` subset.
    pub(crate) sampled: usize,
}

/// The refusal for an empty training split, naming `data.train` and each step that emptied it.
pub(crate) fn no_training_examples(d: &DataSection, path: &str, c: TrainCounts) -> Error {
    let mut steps = vec![match c.rows {
        0 => "the file has no rows".to_string(),
        1 => "the file has 1 row".to_string(),
        n => format!("the file has {n} rows"),
    }];
    if c.examples < c.rows {
        steps.push(format!(
            "data.skip_empty = true skipped {} with an empty text field",
            c.rows - c.examples
        ));
    }
    if let (Some(fraction), true) = (d.validation_fraction, c.after_validation < c.examples) {
        steps.push(format!(
            "data.validation_fraction = {fraction} held out {} for validation",
            c.examples - c.after_validation
        ));
    }
    if let (Some(n), true) = (d.train_samples, c.sampled < c.after_validation) {
        steps.push(format!("data.train_samples = {n} kept {}", c.sampled));
    }
    Error::Config(format!(
        "data.train = \"{path}\": no training examples: {}",
        steps.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_file_and_each_filter() {
        let mut d = DataSection {
            skip_empty: true,
            validation_fraction: Some(0.5),
            ..Default::default()
        };
        let c = TrainCounts {
            rows: 3,
            examples: 1,
            after_validation: 0,
            sampled: 0,
        };
        assert_eq!(
            no_training_examples(&d, "t.jsonl", c).to_string(),
            "data.train = \"t.jsonl\": no training examples: the file has 3 rows, \
             data.skip_empty = true skipped 2 with an empty text field, \
             data.validation_fraction = 0.5 held out 1 for validation"
        );
        d.validation_fraction = None;
        let empty = TrainCounts {
            rows: 0,
            examples: 0,
            after_validation: 0,
            sampled: 0,
        };
        assert_eq!(
            no_training_examples(&d, "t.csv", empty).to_string(),
            "data.train = \"t.csv\": no training examples: the file has no rows"
        );
    }
}
