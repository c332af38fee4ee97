//! The recipe's key names (read off the section structs themselves), unknown-key checks with
//! the nearest valid key suggested, and the line of a key in the recipe file.
use super::sections::{DataSection, EvalSection, LoraSection, ModelSection, TrainSection};
use super::Recipe;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The field names a `Deserialize` derive passes to `deserialize_struct`.
fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("field names read"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

/// Every section of a recipe with its keys, in declaration order.
pub(crate) fn recipe_keys() -> Vec<(&'static str, &'static [&'static str])> {
    fields_of::<Recipe>()
        .iter()
        .map(|&section| {
            let keys = match section {
                "model" => fields_of::<ModelSection>(),
                "data" => fields_of::<DataSection>(),
                "lora" => fields_of::<LoraSection>(),
                "train" => fields_of::<TrainSection>(),
                "eval" => fields_of::<EvalSection>(),
                _ => &[],
            };
            (section, keys)
        })
        .collect()
}

/// A key that no section has, with what to say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownKey {
    /// `section` or `section.key`.
    pub(crate) path: Vec<String>,
    pub(crate) message: String,
}

/// The candidate closest to `name` by edit distance, when close enough to be a typo.
fn nearest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Checks `section.key` (further parts are left to deserialization).
pub(crate) fn check_path(path: &[&str]) -> Result<(), UnknownKey> {
    let all = recipe_keys();
    let sections: Vec<&str> = all.iter().map(|(s, _)| *s).collect();
    let Some(section) = path.first() else {
        return Ok(());
    };
    let Some((_, keys)) = all.iter().find(|(s, _)| s == section) else {
        let hint = match nearest(section, &sections) {
            Some(s) => format!("did you mean `[{s}]`?"),
            None => format!("the sections are {}", list(&sections)),
        };
        return Err(UnknownKey {
            path: vec![section.to_string()],
            message: format!("unknown section `[{section}]`; {hint}"),
        });
    };
    let Some(key) = path.get(1) else {
        return Ok(());
    };
    if keys.contains(key) {
        return Ok(());
    }
    let elsewhere = all
        .iter()
        .find(|(_, k)| k.contains(key))
        .map(|(s, _)| format!("`{s}.{key}`"));
    let hint = match (nearest(key, keys), elsewhere) {
        (Some(k), _) => format!("did you mean `{k}`?"),
        (None, Some(other)) => format!("did you mean {other}?"),
        (None, None) => format!("[{section}] keys are {}", list(keys)),
    };
    Err(UnknownKey {
        path: vec![section.to_string(), key.to_string()],
        message: format!("unknown key `{section}.{key}`; {hint}"),
    })
}

fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first unknown section or key of a parsed recipe (sections and keys in name order).
pub(crate) fn check_value(root: &toml::Value) -> Result<(), UnknownKey> {
    let Some(table) = root.as_table() else {
        return Ok(());
    };
    for (section, value) in table {
        check_path(&[section])?;
        if let Some(keys) = value.as_table() {
            for key in keys.keys() {
                check_path(&[section, key])?;
            }
        }
    }
    Ok(())
}

/// The 1-based line of `section` or `section.key` in recipe text, where the text is laid out
/// as tables of keys (as recipes are); `None` otherwise.
pub(crate) fn line_of(text: &str, path: &[String]) -> Option<usize> {
    type Spanned = toml::Spanned<String>;
    let span = match path {
        [section] => {
            let top: BTreeMap<Spanned, de::IgnoredAny> = toml::from_str(text).ok()?;
            top.into_keys().find(|k| k.get_ref() == section)?.span()
        }
        [section, key, ..] => {
            let top: BTreeMap<Spanned, BTreeMap<Spanned, de::IgnoredAny>> =
                toml::from_str(text).ok()?;
            let (_, keys) = top.into_iter().find(|(k, _)| k.get_ref() == section)?;
            keys.into_keys().find(|k| k.get_ref() == key)?.span()
        }
        [] => return None,
    };
    Some(text[..span.start.min(text.len())].matches('\n').count() + 1)
}
