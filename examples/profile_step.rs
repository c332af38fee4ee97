//! Rough timing of one MiniLM classification training step (forward / backward / update).
use candle_core::{DType, Device, Tensor};
use loratune::lora::{inject, trainable_parameters, LoraConfig};
use loratune::models::Options;
use std::time::Instant;

#[global_allocator]
static GLOBAL: loratune::runtime::MiMalloc = loratune::runtime::MiMalloc;

fn main() {
    loratune::runtime::init();
    let files = loratune::hub::resolve_model("../shared/models/all-MiniLM-L6-v2").unwrap();
    let options = Options {
        num_labels: Some(2),
        ..Default::default()
    };
    let mut model = loratune::models::open(&files, &options)
        .and_then(|o| o.model.into_classifier())
        .unwrap();
    let targets = std::env::var("PROFILE_TARGETS").unwrap_or_else(|_| "query,value".into());
    let mut lora = LoraConfig::new(
        8,
        16.0,
        0.05,
        targets.split(',').map(String::from).collect(),
    );
    lora.modules_to_save = Some(vec!["classifier".into()]);
    inject(&mut model, &lora, 0).unwrap();
    let params = trainable_parameters(&mut model);
    let len: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(256);
    let ids: Vec<u32> = (0..16 * len)
        .map(|i| 1000 + (i as u32 * 7919) % 20000)
        .collect();
    let ids = Tensor::from_vec(ids, (16, len), &Device::Cpu).unwrap();
    let mask = Tensor::ones((16, len), DType::U8, &Device::Cpu).unwrap();
    let labels = Tensor::from_vec(
        (0..16u32).map(|i| i % 2).collect::<Vec<_>>(),
        16,
        &Device::Cpu,
    )
    .unwrap();
    for _ in 0..std::env::var("PROFILE_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
    {
        let t = Instant::now();
        let logits = model.forward(&ids, &mask, true).unwrap();
        let loss = loratune::nn::loss::token_nll(&logits, &labels)
            .unwrap()
            .mean_all()
            .unwrap();
        let forward = t.elapsed().as_secs_f64();
        let grads = loss.backward().unwrap();
        let backward = t.elapsed().as_secs_f64() - forward;
        let n = params
            .iter()
            .filter(|(_, v)| grads.get(v.as_tensor()).is_some())
            .count();
        let t2 = Instant::now();
        let no_grad = model.forward(&ids, &mask, false).unwrap();
        let _ = no_grad.sum_all().unwrap().to_scalar::<f32>();
        println!(
            "forward {forward:.2}s backward {backward:.2}s ({n} grads); inference forward {:.2}s",
            t2.elapsed().as_secs_f64()
        );
    }
}
