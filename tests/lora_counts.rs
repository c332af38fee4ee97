//! Trainable-parameter counts equal PEFT's on the real architectures (synthetic weights).
mod common;
use candle_core::{DType, Device};
use loratune::lora::{inject, LoraConfig, TrainableCounts};
use loratune::nn::Weights;

#[test]
fn flan_t5_base_r32_on_q_v() {
    let expected = common::read_json(&common::fixtures().join("lora/peft_counts.json"))
        ["google/flan-t5-base"]
        .clone();
    let config: loratune::models::t5::T5Config = serde_json::from_value(serde_json::json!({
        "vocab_size": 32128, "d_model": 768, "d_kv": 64, "d_ff": 2048, "num_layers": 12,
        "num_decoder_layers": 12, "num_heads": 12, "feed_forward_proj": "gated-gelu",
        "tie_word_embeddings": false
    }))
    .unwrap();
    // No lm_head.weight in the synthetic file: the head is the shared embedding, as in
    // PEFT's reference model built from the config (Transformers 5 ties T5 heads).
    let weights = Weights::synthetic(0.0, 0, DType::F32, &Device::Cpu);
    let mut model = loratune::models::t5::T5::load(config, &weights).unwrap();
    let lora = LoraConfig::new(32, 32.0, 0.1, vec!["q".into(), "v".into()]);
    let report = inject(&mut model, &lora, 0).unwrap();
    assert_eq!(report.adapted.len(), 72);
    let counts = TrainableCounts::of(&mut model);
    assert_eq!(counts.trainable, 3_538_944);
    assert_eq!(
        counts.trainable as u64,
        expected["trainable"].as_u64().unwrap()
    );
    assert_eq!(counts.all as u64, expected["all"].as_u64().unwrap());
    assert!(
        counts
            .to_string()
            .starts_with("trainable params: 3,538,944 || all params: "),
        "{counts}"
    );
}
