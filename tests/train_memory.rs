//! Resident memory stays flat over a long training run: `loratune train` of all-MiniLM-L6-v2
//! (../shared, a 22M-parameter BERT) with LoRA on query/value and a new classification head, on
//! IMDB reviews cut to 64 tokens, batch 8, for 300 optimizer steps with a checkpoint every 100;
//! its resident set size (Linux `/proc/PID/status`) is read when `metrics.jsonl` shows step 20
//! and again in the run's last steps, and must grow by less than 5%. Ignored by default
//! (minutes): `cargo test --release --test train_memory -- --ignored --nocapture`.
mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

const STEPS: usize = 300;
const FIRST: usize = 20;

/// VmRSS of a process in KiB.
fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The last step logged in `metrics.jsonl` so far.
fn last_step(metrics: &Path) -> usize {
    let Ok(file) = std::fs::File::open(metrics) else {
        return 0;
    };
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .filter_map(|v| v["step"].as_u64())
        .last()
        .unwrap_or(0) as usize
}

#[test]
#[ignore = "300 training steps; run with --ignored"]
fn resident_memory_stays_flat_over_300_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let recipe = tmp.path().join("recipe.toml");
    std::fs::write(
        &recipe,
        format!(
            "[model]\nname = \"{model}\"\ntask = \"classification\"\nnum_labels = 2\n\
             [data]\ntrain = \"{train}\"\ntrain_samples = 2400\nmax_source_tokens = 64\n\
             [lora]\nr = 8\nlora_alpha = 16\ntarget_modules = [\"query\", \"value\"]\n\
             modules_to_save = [\"classifier\"]\n\
             [train]\noutput_dir = \"{out}\"\nlearning_rate = 1e-4\nbatch_size = 8\n\
             max_steps = {STEPS}\nlogging_steps = 1\nsave_steps = 100\ndevice = \"cpu\"\n",
            model = shared("models/all-MiniLM-L6-v2"),
            train = shared("data/imdb/train.jsonl"),
            out = out.display(),
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_loratune"))
        .args(["train", recipe.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = out.join("metrics.jsonl");
    // (step, KiB) when step FIRST is logged, and the last reading once the run is in its last
    // 10 steps (the process may end between two readings after its last step)
    let (mut first, mut last) = (None, None);
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        let step = last_step(&metrics);
        if let Some(kib) = resident_kib(child.id()) {
            if first.is_none() && step >= FIRST {
                first = Some((step, kib));
            }
            if step + 10 >= STEPS {
                last = Some((step, kib));
            }
        }
        if started.elapsed() > Duration::from_secs(3600) {
            child.kill().unwrap();
            panic!("no end within an hour (step {step})");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(last_step(&metrics), STEPS, "steps logged");
    let ((s1, r1), (s2, r2)) = (
        first.expect("a reading at step 20"),
        last.expect("a reading in the last 10 steps"),
    );
    let growth = (r2 as f64 - r1 as f64) / r1 as f64;
    eprintln!(
        "resident memory: {r1} KiB at step {s1}, {r2} KiB at step {s2}: {:+.2}%",
        growth * 100.0
    );
    assert!(
        growth < 0.05,
        "resident memory grew by {:.1}%",
        growth * 100.0
    );
}
