//! Issue 18's memory bound, measured: peak resident memory (Linux `VmHWM`) of
//! (a) `loratune train`, 4 steps, on a local file of 200,000 XSum-sized documents (about 460 MB
//! of JSON Lines, no sampling), and
//! (b) `loratune run recipes/document-summary.toml` against the emulated Hub serving the same
//! documents as `EdinburghNLP/xsum`'s parquet conversion, the tiny fixture T5 as
//! `google/flan-t5-base` (so the bound measures the data path) and ../shared's MiniLM as
//! `sentence-transformers/all-MiniLM-L6-v2`;
//! both must stay under 1.5 GB. Ignored (minutes, and GBs of memory while the bound does not
//! hold): `cargo test --test hub_memory -- --ignored --nocapture`;
//! `LORATUNE_MEMORY_DOCS=N` uses N documents instead of 200,000 (a quick check of the test).
mod common;

use common::hub_server::{HubServer, Kind, Repo};
use parquet::data_type::{ByteArray, ByteArrayType};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const BOUND_BYTES: u64 = 1_500_000_000;

struct Row {
    id: String,
    document: String,
    summary: String,
}

/// Deterministic XSum-sized rows: ~2,300-byte documents, ~120-byte summaries.
fn rows(count: usize, seed: u64) -> Vec<Row> {
    const WORDS: [&str; 16] = [
        "the", "council", "said", "on", "Tuesday", "that", "plans", "for", "a", "new", "bridge",
        "were", "approved", "after", "months", "of",
    ];
    let mut state = seed;
    let mut text = |bytes: usize| {
        let mut out = String::with_capacity(bytes + 16);
        while out.len() < bytes {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            out.push_str(WORDS[(state >> 60) as usize]);
            out.push(' ');
        }
        out.trim_end().to_string() + "."
    };
    (0..count)
        .map(|i| Row {
            id: format!("{}", 30_000_000 + i),
            document: text(2_300),
            summary: text(120),
        })
        .collect()
}

fn jsonl(rows: &[Row], path: &Path) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for r in rows {
        let line = serde_json::json!({"document": r.document, "summary": r.summary, "id": r.id});
        writeln!(out, "{line}").unwrap();
    }
    out.flush().unwrap();
}

fn parquet(rows: &[Row]) -> Vec<u8> {
    let schema = Arc::new(
        parquet::schema::parser::parse_message_type(
            "message schema { REQUIRED BYTE_ARRAY document (UTF8); \
             REQUIRED BYTE_ARRAY summary (UTF8); REQUIRED BYTE_ARRAY id (UTF8); }",
        )
        .unwrap(),
    );
    let mut out = Vec::new();
    let mut writer = SerializedFileWriter::new(
        &mut out,
        schema,
        Arc::new(WriterProperties::builder().build()),
    )
    .unwrap();
    for chunk in rows.chunks(10_000) {
        let mut group = writer.next_row_group().unwrap();
        for column in 0..3 {
            let values: Vec<ByteArray> = chunk
                .iter()
                .map(|r| match column {
                    0 => r.document.as_str(),
                    1 => r.summary.as_str(),
                    _ => r.id.as_str(),
                })
                .map(ByteArray::from)
                .collect();
            let mut writer = group.next_column().unwrap().unwrap();
            writer
                .typed::<ByteArrayType>()
                .write_batch(&values, None, None)
                .unwrap();
            writer.close().unwrap();
        }
        group.close().unwrap();
    }
    writer.close().unwrap();
    out
}

/// Runs the command to its end; returns its peak resident memory in bytes (`VmHWM`, read
/// until it exits) and panics with its stderr on failure.
fn peak_memory(mut command: Command) -> u64 {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("loratune starts");
    let stderr = child.stderr.take().unwrap();
    let drain = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::BufReader::new(stderr), &mut text).ok();
        text
    });
    let mut peak_kib = 0;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = drain.join().unwrap();
    assert!(status.success(), "{stderr}");
    peak_kib * 1024
}

fn loratune(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loratune"));
    command.args(args);
    command
}

#[test]
#[ignore = "minutes and GBs; run with --ignored --nocapture"]
fn training_memory_is_bounded_by_the_batch_not_the_dataset() {
    let docs: usize = std::env::var("LORATUNE_MEMORY_DOCS")
        .ok()
        .map(|v| v.parse().expect("LORATUNE_MEMORY_DOCS is a number"))
        .unwrap_or(200_000);
    let tmp = tempfile::tempdir().unwrap();
    let train = rows(docs, 1);
    let local = tmp.path().join("xsum-train.jsonl");
    jsonl(&train, &local);
    let mb = |bytes: u64| bytes as f64 / 1e6;
    println!(
        "{docs} documents: {:.0} MB of JSON Lines",
        mb(std::fs::metadata(&local).unwrap().len())
    );
    let t5 = common::fixtures().join("t5/flan_like");

    // (a) 4 steps on the local file, no sampling.
    let recipe = tmp.path().join("local.toml");
    std::fs::write(
        &recipe,
        format!(
            "[model]\nname = \"{model}\"\ntask = \"seq2seq\"\n\
             [data]\ntrain = \"{train}\"\nprompt = \"Summarize: {{document}}\"\n\
             target_field = \"summary\"\nmax_source_tokens = 1024\nmax_target_tokens = 128\n\
             [lora]\nr = 32\nlora_alpha = 64\ntarget_modules = [\"q\", \"v\"]\n\
             [train]\noutput_dir = \"{out}\"\nbatch_size = 8\nmax_steps = 4\ndevice = \"cpu\"\n",
            model = t5.display(),
            train = local.display(),
            out = tmp.path().join("local-run").display(),
        ),
    )
    .unwrap();
    let local_peak = peak_memory(loratune(&["train", recipe.to_str().unwrap()]));
    println!(
        "train, 4 steps, local file: peak RSS {:.0} MB",
        mb(local_peak)
    );

    // (b) the shipped recipe against the emulated Hub.
    let hub = HubServer::start();
    hub.add(Repo::new(Kind::Model, "google/flan-t5-base").with_dir(
        &t5,
        &[
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
            "generation_config.json",
        ],
    ));
    let minilm = Path::new(&common::shared("models/all-MiniLM-L6-v2")).to_path_buf();
    let minilm_files: Vec<String> = std::fs::read_dir(&minilm)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| minilm.join(n).is_file())
        .collect();
    let names: Vec<&str> = minilm_files.iter().map(String::as_str).collect();
    hub.add(
        Repo::new(Kind::Model, "sentence-transformers/all-MiniLM-L6-v2").with_dir(&minilm, &names),
    );
    let train_parquet = parquet(&train);
    drop(train);
    hub.add(
        Repo::new(Kind::Dataset, "EdinburghNLP/xsum")
            .with_file("xsum.py", b"# a loading script".to_vec())
            .with_parquet_file("default/train/0000.parquet", train_parquet)
            .with_parquet_file("default/validation/0000.parquet", parquet(&rows(1_000, 2)))
            .with_parquet_file("default/test/0000.parquet", parquet(&rows(1_000, 3))),
    );
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/document-summary.toml");
    let out = tmp.path().join("hub-run");
    let set_out = format!("train.output_dir={}", out.display());
    let mut command = loratune(&[
        "run",
        recipe.to_str().unwrap(),
        "--set",
        &set_out,
        "--set",
        "train.device=cpu",
    ]);
    for name in [
        "HF_TOKEN",
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HF_HUB_CACHE",
    ] {
        command.env_remove(name);
    }
    command
        .env("HF_ENDPOINT", &hub.url)
        .env("HF_HOME", tmp.path().join("hf"))
        .env("NO_PROXY", "127.0.0.1");
    let hub_peak = peak_memory(command);
    println!(
        "run recipes/document-summary.toml via the emulated Hub: peak RSS {:.0} MB",
        mb(hub_peak)
    );
    assert!(
        local_peak < BOUND_BYTES && hub_peak < BOUND_BYTES,
        "peaks {:.0} MB and {:.0} MB; the bound is {:.0} MB",
        mb(local_peak),
        mb(hub_peak),
        mb(BOUND_BYTES)
    );
}
