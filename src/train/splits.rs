//! The training and validation examples of a recipe: seeded subsets of `data.train` and of
//! `data.validation` (or a share carved from train), chosen before any example is built, so a
//! file larger than memory trains with memory bounded by what is kept of the chosen examples.
use super::empty_split::{no_training_examples, TrainCounts};
use crate::data::dataset::{carve, sample};
use crate::data::selected::ExampleFile;
use crate::error::{Error, Result};
use crate::jsonl::Row;
use crate::recipe::DataSection;
use std::path::Path;

/// The scanned files and the example positions chosen from them.
pub(crate) struct SplitPlan<'a, T> {
    train: ExampleFile<'a, T>,
    train_chosen: Vec<usize>,
    /// `None`: validation examples, if any, come from the train file (`validation_fraction`).
    validation: Option<ExampleFile<'a, T>>,
    validation_chosen: Vec<usize>,
}

impl<'a, T> SplitPlan<'a, T> {
    /// Scans the files (checking every row before any model work) and draws the subsets. An
    /// empty training split is refused, naming the file and the filters that emptied it.
    pub(crate) fn new(
        d: &DataSection,
        make: impl Fn(&Path, usize, &Row) -> Result<Option<T>> + Clone + 'a,
    ) -> Result<Self> {
        let train_path = d
            .train
            .as_deref()
            .ok_or_else(|| Error::Config("data.train is not set".into()))?;
        let train = ExampleFile::scan(train_path, make.clone())?;
        let all: Vec<usize> = (0..train.examples()).collect();
        let (validation, train_positions, validation_positions) = match &d.validation {
            Some(path) => {
                let file = ExampleFile::scan(path, make)?;
                let positions = (0..file.examples()).collect();
                (Some(file), all, positions)
            }
            None => match d.validation_fraction {
                Some(fraction) => {
                    let (train_positions, validation_positions) = carve(all, fraction, d.seed);
                    (None, train_positions, validation_positions)
                }
                None => (None, all, Vec::new()),
            },
        };
        let after_validation = train_positions.len();
        let train_chosen = sample(train_positions, d.train_samples, d.seed);
        if train_chosen.is_empty() {
            let counts = TrainCounts {
                rows: train.rows(),
                examples: train.examples(),
                after_validation,
                sampled: 0,
            };
            return Err(no_training_examples(d, train_path, counts));
        }
        Ok(Self {
            train,
            train_chosen,
            validation,
            validation_chosen: sample(validation_positions, d.validation_samples, d.seed),
        })
    }

    /// Validation examples that `build` will give.
    pub(crate) fn validation_len(&self) -> usize {
        self.validation_chosen.len()
    }

    /// The chosen validation examples themselves (e.g. their texts, to score generations).
    pub(crate) fn validation_examples(&self) -> Result<Vec<T>> {
        if self.validation_chosen.is_empty() {
            return Ok(Vec::new());
        }
        let file = self.validation.as_ref().unwrap_or(&self.train);
        file.build(&self.validation_chosen, Ok)
    }

    /// Training examples that `build_into` will give.
    pub(crate) fn train_len(&self) -> usize {
        self.train_chosen.len()
    }

    /// Builds the chosen training and validation examples, each turned into a `U` by
    /// `convert` a chunk at a time (tokenized, for training: the texts are not kept), and hands
    /// each to `train(slot, value)` or `validation(slot, value)`.
    pub(crate) fn build_into<U>(
        &self,
        mut convert: impl FnMut(Vec<T>) -> Result<Vec<U>>,
        train: impl FnMut(usize, U) -> Result<()>,
        validation: impl FnMut(usize, U) -> Result<()>,
    ) -> Result<()> {
        self.train
            .build_into(&self.train_chosen, &mut convert, train)?;
        if !self.validation_chosen.is_empty() {
            let file = self.validation.as_ref().unwrap_or(&self.train);
            file.build_into(&self.validation_chosen, &mut convert, validation)?;
        }
        Ok(())
    }
}
