#!/usr/bin/env bash
# The real-data sentiment runs reported in the README (issue #6): all-MiniLM-L6-v2 with a fresh
# 2-label head on the IMDB files in ../shared/data/imdb, base vs tuned F1 on 2,000 test reviews.
#
#   scripts/imdb-settings.sh A [OUTPUT_DIR]   # the parity setting: LoRA r8 α16 on query + head, 3 epochs
#   scripts/imdb-settings.sh B [OUTPUT_DIR]   # our best setting within 15 minutes of training on 2 cores
#   scripts/imdb-settings.sh B OUTPUT_DIR --set train.learning_rate=5e-4   # any further overrides
#
# Uses target/release/loratune (build it with `cargo build --release`), or $LORATUNE.
set -euo pipefail
cd "$(dirname "$0")/.."
loratune=${LORATUNE:-target/release/loratune}
setting=${1:?usage: $0 A|B [OUTPUT_DIR]}
common=(
  --set model.name=../shared/models/all-MiniLM-L6-v2
  --set data.train=../shared/data/imdb/train.jsonl --set data.test=../shared/data/imdb/test.jsonl
  --set data.max_source_tokens=256 --set train.batch_size=16 --set train.max_grad_norm=1.0
  --set train.lr_scheduler_type=linear
  --set train.eval_strategy=no --set train.save_best=false
  --set data.test_samples=2000 --set eval.samples=2000 --set eval.seed=42
)
case "$setting" in
  A) specific=(
       --set data.train_samples=1000 --set train.num_train_epochs=3 --set train.learning_rate=1e-3
       --set 'lora.target_modules=["query"]' --set lora.r=8 --set lora.lora_alpha=16 --set lora.lora_dropout=0.05
     ) ;;
  B) specific=(
       --set data.train_samples=6400 --set train.num_train_epochs=1 --set train.warmup_steps=20
       --set train.learning_rate=5e-4 --set data.truncation_side=left
       --set 'lora.target_modules=["query","key","value","dense"]' --set lora.r=16 --set lora.lora_alpha=32 --set lora.lora_dropout=0.1
     ) ;;
  *) echo "setting must be A or B" >&2; exit 2 ;;
esac
output_dir=${2:-runs/imdb-$setting}
shift $(( $# < 2 ? $# : 2 ))
exec "$loratune" run recipes/sentiment.toml "${common[@]}" "${specific[@]}" --set "train.output_dir=$output_dir" "$@"
