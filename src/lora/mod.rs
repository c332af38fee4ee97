//! LoRA adapters: the layer, its configuration, PEFT's file format and merging.
pub mod layer;
