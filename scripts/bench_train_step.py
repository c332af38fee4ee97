"""PyTorch + PEFT side of `cargo bench --bench train_step`: times one LoRA training step
(forward, backward, AdamW) on random models of the given shapes. Prints one JSON object."""
import json, sys, time
import torch

torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
spec = json.loads(sys.argv[1])
from peft import LoraConfig, get_peft_model

torch.manual_seed(0)
results = {}
for case in spec["cases"]:
    if case["kind"] == "t5":
        from transformers import T5Config, T5ForConditionalGeneration
        cfg = T5Config(vocab_size=case["vocab"], d_model=case["d_model"], d_kv=case["d_kv"], d_ff=case["d_ff"],
                       num_layers=case["layers"], num_decoder_layers=case["layers"], num_heads=case["heads"],
                       feed_forward_proj="gated-gelu", dropout_rate=0.0, tie_word_embeddings=False,
                       decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
        model = T5ForConditionalGeneration(cfg)
        task = "SEQ_2_SEQ_LM"
        batch = dict(input_ids=torch.randint(3, case["vocab"], (case["batch"], case["source_len"])),
                     labels=torch.randint(3, case["vocab"], (case["batch"], case["target_len"])))
    else:
        from transformers import DistilBertConfig, DistilBertForSequenceClassification
        cfg = DistilBertConfig(vocab_size=case["vocab"], dim=case["dim"], n_layers=case["layers"], n_heads=case["heads"],
                               hidden_dim=case["hidden_dim"], dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0, num_labels=2)
        model = DistilBertForSequenceClassification(cfg)
        task = "SEQ_CLS"
        batch = dict(input_ids=torch.randint(3, case["vocab"], (case["batch"], case["seq_len"])),
                     labels=torch.randint(0, 2, (case["batch"],)))
    lora = LoraConfig(task_type=task, r=case["r"], lora_alpha=2 * case["r"], lora_dropout=0.0, target_modules=case["targets"])
    model = get_peft_model(model, lora)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    def step():
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    step()
    times = []
    for _ in range(case["repeats"]):
        t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
    times.sort()
    results[case["name"]] = times[len(times) // 2]
print(json.dumps(results))
