//! The trainer stops when a trainable tensor does not learn (a silent graph cut).
use candle_core::{Device, Tensor, Var};
use loratune::lora::LoraConfig;
use loratune::recipe::TrainSection;
use loratune::train::{train, Objective, TrainRun};
use std::collections::BTreeMap;

struct Quadratic {
    used: Var,
    detached: Var,
}

impl Objective for Quadratic {
    fn train_len(&self) -> usize {
        4
    }
    fn batch_loss(&self, _rows: &[usize], _train: bool) -> candle_core::Result<Tensor> {
        // `detached` enters the loss through a graph cut, like a kernel without backward.
        self.used.as_tensor().sqr()?.sum_all()? + self.detached.as_tensor().detach().sum_all()?
    }
    fn evaluate(&self) -> loratune::Result<Option<BTreeMap<String, f64>>> {
        Ok(None)
    }
}

fn settings(dir: &std::path::Path) -> TrainSection {
    let mut s: TrainSection = toml::from_str("").unwrap();
    s.output_dir = dir.to_path_buf();
    s.max_steps = Some(3);
    s.batch_size = 2;
    s.learning_rate = 0.1;
    s
}

#[test]
fn untrained_tensor_stops_the_run_and_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let objective = Quadratic {
        used: Var::new(&[1.0f32, 2.0], &Device::Cpu).unwrap(),
        detached: Var::new(&[3.0f32], &Device::Cpu).unwrap(),
    };
    let params = vec![
        (
            "base_model.model.a.lora_A.weight".to_string(),
            objective.used.clone(),
        ),
        (
            "base_model.model.b.lora_A.weight".to_string(),
            objective.detached.clone(),
        ),
    ];
    let lora = LoraConfig::new(1, 1.0, 0.0, vec!["a".into()]);
    let s = settings(tmp.path());
    let err = train(TrainRun {
        objective: &objective,
        params,
        lora: &lora,
        settings: &s,
        shuffle: false,
        data_seed: 0,
        recipe_toml: None,
        resume: None,
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("not learning")
            && err.contains("base_model.model.b.lora_A.weight (no gradient)"),
        "{err}"
    );
    assert!(!err.contains("model.a."), "{err}");
}

#[test]
fn healthy_run_trains_and_writes_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let objective = Quadratic {
        used: Var::new(&[1.0f32, 2.0], &Device::Cpu).unwrap(),
        detached: Var::new(&[0.0f32], &Device::Cpu).unwrap(),
    };
    let params = vec![(
        "base_model.model.a.lora_A.weight".to_string(),
        objective.used.clone(),
    )];
    let lora = LoraConfig::new(1, 1.0, 0.0, vec!["a".into()]);
    let s = settings(tmp.path());
    let report = train(TrainRun {
        objective: &objective,
        params,
        lora: &lora,
        settings: &s,
        shuffle: true,
        data_seed: 0,
        recipe_toml: None,
        resume: None,
    })
    .unwrap();
    assert_eq!(report.steps, 3);
    assert!(report.step_losses[2] < report.step_losses[0]);
    assert!(tmp
        .path()
        .join("adapter/adapter_model.safetensors")
        .is_file());
}

/// A LoRA-like product a·b with b starting at zero: a gets a gradient only once b has moved.
struct Product {
    a: Var,
    b: Var,
}

impl Objective for Product {
    fn train_len(&self) -> usize {
        4
    }
    fn batch_loss(&self, _rows: &[usize], _train: bool) -> candle_core::Result<Tensor> {
        ((self.a.as_tensor() * self.b.as_tensor())? - 1.0)?
            .sqr()?
            .sum_all()
    }
    fn evaluate(&self) -> loratune::Result<Option<BTreeMap<String, f64>>> {
        Ok(None)
    }
}

#[test]
fn warmup_starting_at_zero_does_not_trip_the_guard() {
    let tmp = tempfile::tempdir().unwrap();
    let objective = Product {
        a: Var::new(&[1.0f32], &Device::Cpu).unwrap(),
        b: Var::new(&[0.0f32], &Device::Cpu).unwrap(),
    };
    let params = vec![
        (
            "base_model.model.a.lora_A.weight".to_string(),
            objective.a.clone(),
        ),
        (
            "base_model.model.a.lora_B.weight".to_string(),
            objective.b.clone(),
        ),
    ];
    let lora = LoraConfig::new(1, 1.0, 0.0, vec!["a".into()]);
    let mut s = settings(tmp.path());
    s.max_steps = Some(5);
    s.warmup_steps = 2; // the first step runs at learning rate 0, as in Transformers
    let report = train(TrainRun {
        objective: &objective,
        params,
        lora: &lora,
        settings: &s,
        shuffle: false,
        data_seed: 0,
        recipe_toml: None,
        resume: None,
    })
    .unwrap();
    assert_eq!(report.steps, 5);
}
