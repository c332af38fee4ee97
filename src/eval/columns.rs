//! Which row columns make an example, from a recipe's `[data]` section: shared by training
//! and evaluation. It lives in eval, whose surface training may use (evaluation never imports
//! training, so that training can evaluate by generating).
use crate::data::dataset::ExampleFields;
use crate::recipe::DataSection;

/// The columns of `d`.
pub fn example_fields(d: &DataSection) -> ExampleFields {
    ExampleFields {
        prompt: d.prompt.clone(),
        source_field: d.source_field.clone(),
        target_field: d.target_field.clone(),
        text_field: d.text_field.clone(),
        label_field: d.label_field.clone(),
        skip_empty: d.skip_empty,
    }
}
