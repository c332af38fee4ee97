//! Named tensors loaded from safetensors files, with shape checks and key aliases.
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

pub struct Weights {
    tensors: HashMap<String, Tensor>,
    /// Where the tensors came from, for error messages.
    source: PathBuf,
    /// (model prefix, checkpoint prefix): a lookup of `model_prefix + rest` also tries
    /// `checkpoint_prefix + rest` (e.g. BERT checkpoints with or without `bert.`).
    aliases: Vec<(String, String)>,
    used: RefCell<BTreeSet<String>>,
    /// Used keys that duplicate another tensor (tied copies): not counted as parameters.
    duplicates: RefCell<BTreeSet<String>>,
    pub dtype: DType,
    pub device: Device,
    /// For benchmarks and counting: tensors not in the file are made up on request.
    synthetic: Option<Synthetic>,
}

struct Synthetic {
    std: f64,
    rng: RefCell<crate::rng::Stream>,
    made: RefCell<HashMap<String, Tensor>>,
}

impl Weights {
    /// Loads safetensors files, converting floating-point tensors to `dtype`.
    pub fn load(files: &[PathBuf], dtype: DType, device: &Device) -> Result<Self> {
        let mut tensors = HashMap::new();
        for file in files {
            let loaded = candle_core::safetensors::load(file, device)
                .map_err(|e| Error::file(file, format!("cannot read safetensors: {e}")))?;
            insert_converted(&mut tensors, loaded, dtype)?;
        }
        let source = files.first().cloned().unwrap_or_default();
        Ok(Self::from_tensors(tensors, source, dtype, device))
    }

    /// The tensors of a safetensors file's contents, as [`Weights::load`] reads the file
    /// (`source` names it in errors). For fuzzing and tests.
    pub fn from_safetensors_bytes(
        bytes: &[u8],
        source: PathBuf,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let loaded = candle_core::safetensors::load_buffer(bytes, device)
            .map_err(|e| Error::file(&source, format!("cannot read safetensors: {e}")))?;
        let mut tensors = HashMap::new();
        insert_converted(&mut tensors, loaded, dtype)?;
        Ok(Self::from_tensors(tensors, source, dtype, device))
    }

    pub fn from_tensors(
        tensors: HashMap<String, Tensor>,
        source: PathBuf,
        dtype: DType,
        device: &Device,
    ) -> Self {
        Self {
            tensors,
            source,
            aliases: Vec::new(),
            used: RefCell::new(BTreeSet::new()),
            duplicates: RefCell::new(BTreeSet::new()),
            dtype,
            device: device.clone(),
            synthetic: None,
        }
    }

    /// Weights with no file behind them: every requested tensor is drawn from N(0, std²)
    /// (zeros when `std` is 0) with a seeded generator. Optional tensors count as absent.
    pub fn synthetic(std: f64, seed: u64, dtype: DType, device: &Device) -> Self {
        let mut weights =
            Self::from_tensors(HashMap::new(), PathBuf::from("<synthetic>"), dtype, device);
        weights.synthetic = Some(Synthetic {
            std,
            rng: RefCell::new(crate::rng::Stream::new(
                seed,
                crate::rng::Purpose::Synthetic,
                [0; 3],
            )),
            made: RefCell::new(HashMap::new()),
        });
        weights
    }

    fn make_up(&self, synthetic: &Synthetic, name: &str, shape: &[usize]) -> Result<Tensor> {
        if let Some(t) = synthetic.made.borrow().get(name) {
            return Ok(t.clone());
        }
        let tensor = if synthetic.std == 0.0 {
            Tensor::zeros(shape, self.dtype, &self.device)?
        } else {
            use rand_distr::Distribution;
            let normal = rand_distr::Normal::new(0.0, synthetic.std as f32)
                .map_err(|e| Error::Config(format!("synthetic weights: {e}")))?;
            let mut rng = synthetic.rng.borrow_mut();
            let count: usize = shape.iter().product();
            let values: Vec<f32> = (0..count).map(|_| normal.sample(&mut *rng)).collect();
            Tensor::from_vec(values, shape, &self.device)?.to_dtype(self.dtype)?
        };
        synthetic
            .made
            .borrow_mut()
            .insert(name.to_string(), tensor.clone());
        Ok(tensor)
    }

    pub fn add_alias(&mut self, model_prefix: &str, checkpoint_prefix: &str) {
        self.aliases
            .push((model_prefix.to_string(), checkpoint_prefix.to_string()));
    }

    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The checkpoint key a model name resolves to, if any.
    pub fn resolve(&self, name: &str) -> Option<String> {
        if self.tensors.contains_key(name) {
            return Some(name.to_string());
        }
        self.aliases.iter().find_map(|(model, checkpoint)| {
            let rest = name.strip_prefix(model.as_str())?;
            let key = format!("{checkpoint}{rest}");
            self.tensors.contains_key(&key).then_some(key)
        })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.resolve(name).is_some()
    }

    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        if let (None, Some(synthetic)) = (self.resolve(name), &self.synthetic) {
            return self.make_up(synthetic, name, shape);
        }
        let key = self
            .resolve(name)
            .ok_or_else(|| Error::file(&self.source, format!("missing tensor '{name}'")))?;
        let tensor = &self.tensors[&key];
        if tensor.dims() != shape {
            return Err(Error::file(
                &self.source,
                format!(
                    "tensor '{key}' has shape {:?}, expected {:?}",
                    tensor.dims(),
                    shape
                ),
            ));
        }
        self.used.borrow_mut().insert(key);
        Ok(tensor.clone())
    }

    /// The first of `names` that exists.
    pub fn get_any(&self, names: &[&str], shape: &[usize]) -> Result<Tensor> {
        match names.iter().find(|n| self.contains(n)) {
            Some(name) => self.get(name, shape),
            None if self.synthetic.is_some() && !names.is_empty() => self.get(names[0], shape),
            None => Err(Error::file(
                &self.source,
                format!("missing tensor: none of {names:?}"),
            )),
        }
    }

    /// Marks a tied copy (e.g. `encoder.embed_tokens.weight`) as expected but not a parameter.
    pub fn acknowledge_duplicate(&self, name: &str) {
        if let Some(key) = self.resolve(name) {
            self.used.borrow_mut().insert(key.clone());
            self.duplicates.borrow_mut().insert(key);
        }
    }

    /// Elements of every tensor the model took, tied copies once (PyTorch's count).
    pub fn used_parameter_count(&self) -> usize {
        let duplicates = self.duplicates.borrow();
        self.used
            .borrow()
            .iter()
            .filter(|k| !duplicates.contains(*k))
            .map(|k| self.tensors[k].elem_count())
            .sum::<usize>()
            + self
                .synthetic
                .as_ref()
                .map(|s| {
                    s.made
                        .borrow()
                        .values()
                        .map(|t| t.elem_count())
                        .sum::<usize>()
                })
                .unwrap_or(0)
    }

    /// Checkpoint keys no model layer asked for.
    pub fn unused(&self) -> Vec<String> {
        let used = self.used.borrow();
        let mut keys: Vec<String> = self
            .tensors
            .keys()
            .filter(|k| !used.contains(*k))
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    pub fn tensors(&self) -> &HashMap<String, Tensor> {
        &self.tensors
    }
}

/// Adds `loaded` to `tensors`, floating-point tensors converted to `dtype`.
fn insert_converted(
    tensors: &mut HashMap<String, Tensor>,
    loaded: HashMap<String, Tensor>,
    dtype: DType,
) -> Result<()> {
    for (name, tensor) in loaded {
        let tensor = if tensor.dtype().is_float() && tensor.dtype() != dtype {
            tensor.to_dtype(dtype)?
        } else {
            tensor
        };
        tensors.insert(name, tensor);
    }
    Ok(())
}
