#!/usr/bin/env python3
"""Times Transformers' `generate` on a random T5-small-shaped model (companion of benches/generate_speed.rs).

Usage:
    python scripts/bench_generate.py --out DIR [--batch 16] [--source-len 256] [--new-tokens 64]
        [--threads 2] [--repeats 1] [--seed 0] [--no-time]

Builds a randomly initialised `T5ForConditionalGeneration` shaped like t5-small with a gated FFN
(d_model 512, d_kv 64, 8 heads, d_ff 1024, 6 encoder + 6 decoder layers, gated-gelu, vocab 32128,
untied lm_head) from a fixed seed, saves it with `save_pretrained` into DIR (config.json,
model.safetensors, generation_config.json) and writes DIR/inputs.json: {"input_ids": [[...]]}, a batch of
random source ids (no padding, every row ending in </s>=1). Then times greedy
`model.generate(input_ids, attention_mask, max_new_tokens=N, min_new_tokens=N, do_sample=False,
num_beams=1)` with torch limited to --threads threads (one untimed warm-up call on a shorter run first)
so that exactly batch * N tokens are generated.

Prints one JSON line on stdout:
    {"seconds": best wall time, "all_seconds": [...], "tokens": batch*N, "tokens_per_s": ...,
     "cpu_seconds": process CPU time of the best run, "encoder_seconds": best time of the encoder alone,
     "batch": ..., "source_len": ..., "new_tokens": ..., "threads": ..., "torch": ..., "transformers": ...,
     "first_row": generated ids of row 0 (without the decoder start token)}
With --no-time only the model and inputs are written (and the JSON line has no timing).
Exits with status 2 when torch/transformers are not importable.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--source-len", type=int, default=256)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-time", action="store_true")
    args = ap.parse_args()

    try:
        import torch
        import transformers
        from transformers import T5Config, T5ForConditionalGeneration
    except ImportError as e:
        print(f"torch/transformers are not available: {e}", file=sys.stderr)
        sys.exit(2)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = T5Config(
        vocab_size=32128, d_model=512, d_kv=64, d_ff=1024, num_layers=6, num_decoder_layers=6, num_heads=8,
        relative_attention_num_buckets=32, relative_attention_max_distance=128, feed_forward_proj="gated-gelu",
        dropout_rate=0.1, layer_norm_epsilon=1e-6, tie_word_embeddings=False,
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
    )
    model = T5ForConditionalGeneration(cfg)
    with torch.no_grad():
        # An untied head of modest scale, and EOS never the argmax (min_new_tokens also forbids it).
        model.lm_head.weight.normal_(0.0, 0.05)
    model.eval()
    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(args.out)

    g = torch.Generator().manual_seed(args.seed + 1)
    ids = torch.randint(3, cfg.vocab_size, (args.batch, args.source_len), generator=g)
    ids[:, -1] = 1
    mask = torch.ones_like(ids)
    with open(os.path.join(args.out, "inputs.json"), "w") as f:
        json.dump({"input_ids": ids.tolist()}, f)

    out = {
        "batch": args.batch, "source_len": args.source_len, "new_tokens": args.new_tokens,
        "threads": args.threads, "torch": torch.__version__, "transformers": transformers.__version__,
    }
    if args.no_time:
        print(json.dumps(out))
        return

    n = args.new_tokens
    kw = dict(max_new_tokens=n, min_new_tokens=n, do_sample=False, num_beams=1, use_cache=True)
    with torch.inference_mode():
        model.generate(input_ids=ids[:, :32], attention_mask=mask[:, :32], max_new_tokens=4, min_new_tokens=4,
                       do_sample=False, num_beams=1)
        times, cpu = [], []
        for _ in range(max(1, args.repeats)):
            start, start_cpu = time.perf_counter(), time.process_time()
            seq = model.generate(input_ids=ids, attention_mask=mask, **kw)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        # the encoder alone (the same call generate makes first)
        enc_times = []
        for _ in range(max(1, args.repeats)):
            start = time.perf_counter()
            model.get_encoder()(input_ids=ids, attention_mask=mask)
            enc_times.append(time.perf_counter() - start)
    assert seq.shape == (args.batch, n + 1), seq.shape
    i = min(range(len(times)), key=times.__getitem__)
    best = times[i]
    out.update({
        "seconds": best, "all_seconds": times, "tokens": args.batch * n, "tokens_per_s": args.batch * n / best,
        "cpu_seconds": cpu[i], "encoder_seconds": min(enc_times), "first_row": seq[0, 1:].tolist(),
    })
    print(json.dumps(out))


if __name__ == "__main__":
    main()
