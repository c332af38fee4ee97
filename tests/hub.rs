//! Hub downloads against the emulated Hub (tests/common/hub_server.rs), through the `loratune`
//! binary with `HF_ENDPOINT` pointing at it and a fresh `HF_HOME`: nothing here reaches the
//! real Hub.
mod common;

use common::hub_server::{Access, HubServer, Kind, Repo};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const MODEL_FILES: [&str; 5] = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
];

fn flan_like() -> PathBuf {
    common::fixtures().join("t5/flan_like")
}

/// The tiny T5 fixture served as `google/flan-t5-base`.
fn flan_repo(id: &str) -> Repo {
    Repo::new(Kind::Model, id).with_dir(&flan_like(), &MODEL_FILES)
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// A test's own Hub home: HOME and HF_HOME in a temp dir, the cache at HF_HOME/hub.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn hf_home(&self) -> PathBuf {
        self.dir.path().join("hf")
    }
    fn cache(&self) -> PathBuf {
        self.hf_home().join("hub")
    }

    /// `loratune ARGS` with only this test's Hub settings (and `extra`) in the environment.
    fn command(&self, endpoint: &str, extra: &[(&str, &str)], args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_loratune"));
        for name in [
            "HF_HUB_CACHE",
            "HUGGINGFACE_HUB_CACHE",
            "XDG_CACHE_HOME",
            "HF_TOKEN",
            "HUGGING_FACE_HUB_TOKEN",
            "HF_TOKEN_PATH",
            "HF_HUB_OFFLINE",
            "TRANSFORMERS_OFFLINE",
            "HF_HUB_ETAG_TIMEOUT",
            "HF_HUB_DOWNLOAD_TIMEOUT",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "RUST_LOG",
        ] {
            command.env_remove(name);
        }
        command
            .env("HOME", self.dir.path())
            .env("HF_HOME", self.hf_home())
            .env("HF_ENDPOINT", endpoint)
            .env("LORATUNE_HUB_RETRIES", "1")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .envs(extra.iter().copied())
            .args(args)
            .stdin(Stdio::null());
        command
    }

    fn run(&self, endpoint: &str, extra: &[(&str, &str)], args: &[&str]) -> Output {
        self.command(endpoint, extra, args)
            .output()
            .expect("loratune runs")
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, endpoint: &str, extra: &[(&str, &str)], args: &[&str]) -> String {
        let out = self.run(endpoint, extra, args);
        assert!(
            out.status.success(),
            "loratune {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and expects a clean refusal; returns stderr.
    fn refused(&self, endpoint: &str, extra: &[(&str, &str)], args: &[&str]) -> String {
        let out = self.run(endpoint, extra, args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    }
}

fn lines(text: &str) -> Vec<PathBuf> {
    text.lines().map(PathBuf::from).collect()
}

fn by_name(paths: &[PathBuf], name: &str) -> PathBuf {
    paths
        .iter()
        .find(|p| p.file_name().is_some_and(|n| n == name))
        .unwrap_or_else(|| panic!("{name} not among {paths:?}"))
        .clone()
}

#[test]
fn a_model_downloaded_into_an_empty_cache_is_used_offline() {
    let hub = HubServer::start();
    hub.add(flan_repo("google/flan-t5-base"));
    let home = Home::new();
    let paths = lines(&home.ok(&hub.url, &[], &["download", "google/flan-t5-base"]));
    let commit = Repo::new(Kind::Model, "google/flan-t5-base").commit;
    let snapshot = home
        .cache()
        .join("models--google--flan-t5-base/snapshots")
        .join(&commit);
    for name in MODEL_FILES {
        let path = by_name(&paths, name);
        assert_eq!(path, snapshot.join(name));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(flan_like().join(name)).unwrap(),
            "{name}"
        );
    }
    let root = home.cache().join("models--google--flan-t5-base");
    assert_eq!(
        std::fs::read_to_string(root.join("refs/main")).unwrap(),
        commit
    );
    // The LFS file's blob is named by its sha256, and the snapshot links to it.
    let weights = std::fs::read(flan_like().join("model.safetensors")).unwrap();
    let blob = root.join("blobs").join(sha256(&weights));
    assert!(blob.is_file(), "{}", blob.display());
    assert_eq!(
        std::fs::read_link(snapshot.join("model.safetensors")).unwrap(),
        Path::new("../../blobs").join(sha256(&weights))
    );
    // The optional files the repo lacks are remembered as absent.
    for absent in ["model.safetensors.index.json", "spiece.model", "vocab.txt"] {
        assert!(
            root.join(".no_exist").join(&commit).join(absent).is_file(),
            "{absent}"
        );
    }
    assert_eq!(hub.count("GET", &format!("/cdn/{}", sha256(&weights))), 1);

    // Again online: one metadata request finds the commit; nothing is downloaded again and
    // the absent optional files are not asked for.
    hub.forget_requests();
    home.ok(&hub.url, &[], &["download", "google/flan-t5-base"]);
    let seen = hub.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "HEAD");
    assert!(
        seen[0].path.ends_with("/resolve/main/config.json"),
        "{seen:?}"
    );

    // Offline: nothing asked at all, and the cached model generates what the fixture does.
    hub.forget_requests();
    let tmp = home.dir.path();
    let first_line = std::fs::read_to_string(flan_like().join("inputs.jsonl"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(tmp.join("in.jsonl"), first_line + "\n").unwrap();
    let generate = |model: &str, out: &str| {
        let out_path = tmp.join(out);
        home.ok(
            "http://127.0.0.1:9",
            &[("HF_HUB_OFFLINE", "1")],
            &[
                "generate",
                "--model",
                model,
                "--device",
                "cpu",
                "--max-new-tokens",
                "6",
                "--input",
                tmp.join("in.jsonl").to_str().unwrap(),
                "--output",
                out_path.to_str().unwrap(),
            ],
        );
        std::fs::read_to_string(out_path).unwrap()
    };
    let from_cache = generate("google/flan-t5-base", "cached.jsonl");
    let from_dir = generate(flan_like().to_str().unwrap(), "dir.jsonl");
    assert_eq!(from_cache, from_dir);
    assert!(hub.seen().is_empty(), "{:?}", hub.seen());
    // Offline, a model that is not cached says so.
    let err = home.refused(
        &hub.url,
        &[("HF_HUB_OFFLINE", "1")],
        &["download", "google/other"],
    );
    assert!(
        err.contains("config.json of google/other") && err.contains("HF_HUB_OFFLINE is set"),
        "{err}"
    );
}

#[test]
fn a_dataset_split_downloaded_into_an_empty_cache_is_read_offline() {
    let hub = HubServer::start();
    let parquet = std::fs::read(common::fixtures().join("data/imdb_sample.parquet")).unwrap();
    hub.add(
        Repo::new(Kind::Dataset, "someone/imdb-mini")
            .with_file("README.md", b"# imdb mini".to_vec())
            .with_file("plain_text/test-00000-of-00001.parquet", parquet.clone())
            .with_file(
                "plain_text/train-00000-of-00001.parquet",
                b"unused".to_vec(),
            ),
    );
    // A dataset whose files are not data files: its parquet conversion has the split.
    hub.add(
        Repo::new(Kind::Dataset, "someone/scripted")
            .with_file("scripted.py", b"# a loading script".to_vec())
            .with_parquet_file("default/test/0000.parquet", parquet.clone()),
    );
    let home = Home::new();
    for spec in ["hf:someone/imdb-mini:test", "hf:someone/scripted:test"] {
        let paths = lines(&home.ok(&hub.url, &[], &["download", spec]));
        assert_eq!(paths.len(), 1, "{paths:?}");
        assert_eq!(std::fs::read(&paths[0]).unwrap(), parquet, "{spec}");
    }
    let ref_path = home
        .cache()
        .join("datasets--someone--scripted/refs/refs/convert/parquet");
    assert!(ref_path.is_file(), "{}", ref_path.display());
    assert!(
        hub.seen()
            .iter()
            .any(|s| s.path == "/api/datasets/someone/scripted/revision/refs%2Fconvert%2Fparquet"),
        "{:?}",
        hub.seen()
    );
    // Offline, from the cache alone, the same files; a split it lacks is named.
    hub.forget_requests();
    for spec in ["hf:someone/imdb-mini:test", "hf:someone/scripted:test"] {
        let paths = lines(&home.ok(&hub.url, &[("HF_HUB_OFFLINE", "1")], &["download", spec]));
        assert_eq!(std::fs::read(&paths[0]).unwrap(), parquet, "{spec}");
    }
    let err = home.refused(
        &hub.url,
        &[("HF_HUB_OFFLINE", "1")],
        &["download", "hf:someone/imdb-mini:validation"],
    );
    assert!(
        err.contains("no data files for split 'validation'"),
        "{err}"
    );
    assert!(hub.seen().is_empty(), "{:?}", hub.seen());
}

#[test]
fn two_processes_downloading_one_model_both_succeed() {
    let hub = HubServer::start();
    hub.add(flan_repo("google/flan-t5-base"));
    // ~2 s for the weights: the second process arrives while the first downloads.
    hub.throttle(150_000);
    let home = Home::new();
    let spawn = || {
        home.command(&hub.url, &[], &["download", "google/flan-t5-base"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("loratune starts")
    };
    let (first, second) = (spawn(), spawn());
    let outputs = [first, second].map(|c| c.wait_with_output().unwrap());
    for out in &outputs {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let weights = std::fs::read(flan_like().join("model.safetensors")).unwrap();
    for out in &outputs {
        let paths = lines(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(
            std::fs::read(by_name(&paths, "model.safetensors")).unwrap(),
            weights
        );
    }
    // One download of the weights: the other process waited for it on the lock, in
    // Python's place for it.
    assert_eq!(hub.count("GET", &format!("/cdn/{}", sha256(&weights))), 1);
    let waited = outputs
        .iter()
        .filter(|o| {
            String::from_utf8_lossy(&o.stderr)
                .contains("another process is downloading model.safetensors of google/flan-t5-base")
        })
        .count();
    assert_eq!(
        waited, 1,
        "one process waited for the other's download of the weights"
    );
    let lock = home.cache().join(format!(
        ".locks/models--google--flan-t5-base/{}.lock",
        sha256(&weights)
    ));
    assert!(lock.is_file(), "{}", lock.display());
}

#[test]
fn a_connection_cut_half_way_resumes_with_a_range() {
    let hub = HubServer::start();
    hub.add(flan_repo("google/flan-t5-base"));
    let weights = std::fs::read(flan_like().join("model.safetensors")).unwrap();
    let blob_path = format!("/cdn/{}", sha256(&weights));
    hub.cut_once(&blob_path, 100_000);
    let home = Home::new();
    let paths = lines(&home.ok(&hub.url, &[], &["download", "google/flan-t5-base"]));
    let got = std::fs::read(by_name(&paths, "model.safetensors")).unwrap();
    assert_eq!(sha256(&got), sha256(&weights));
    let gets: Vec<_> = hub
        .seen()
        .into_iter()
        .filter(|s| s.method == "GET" && s.path == blob_path)
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0].range, None);
    assert_eq!(gets[1].range.as_deref(), Some("bytes=100000-"));
    let leftovers: Vec<_> =
        std::fs::read_dir(home.cache().join("models--google--flan-t5-base/blobs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".incomplete"))
            .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_stalled_download_times_out_and_resumes() {
    let hub = HubServer::start();
    hub.add(flan_repo("google/flan-t5-base"));
    let weights = std::fs::read(flan_like().join("model.safetensors")).unwrap();
    let blob_path = format!("/cdn/{}", sha256(&weights));
    // The server goes silent for a minute after 50,000 bytes; the read timeout is 1 s.
    hub.stall_once(&blob_path, 50_000);
    let home = Home::new();
    let started = std::time::Instant::now();
    let paths = lines(&home.ok(
        &hub.url,
        &[("HF_HUB_DOWNLOAD_TIMEOUT", "1")],
        &["download", "google/flan-t5-base"],
    ));
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    assert_eq!(
        std::fs::read(by_name(&paths, "model.safetensors")).unwrap(),
        weights
    );
    let ranges: Vec<_> = hub
        .seen()
        .into_iter()
        .filter(|s| s.method == "GET" && s.path == blob_path)
        .map(|s| s.range)
        .collect();
    assert_eq!(ranges, [None, Some("bytes=50000-".to_string())]);
}

#[test]
fn a_download_whose_sha256_differs_is_refused_then_fetched_anew() {
    let hub = HubServer::start();
    hub.add(flan_repo("google/flan-t5-base"));
    let weights = std::fs::read(flan_like().join("model.safetensors")).unwrap();
    hub.corrupt_once(&format!("/cdn/{}", sha256(&weights)));
    let home = Home::new();
    let err = home.refused(&hub.url, &[], &["download", "google/flan-t5-base"]);
    assert!(
        err.contains("model.safetensors of google/flan-t5-base")
            && err.contains(&format!("the Hub's is {}", sha256(&weights))),
        "{err}"
    );
    let blobs = home.cache().join("models--google--flan-t5-base/blobs");
    assert!(!blobs.join(sha256(&weights)).exists());
    let paths = lines(&home.ok(&hub.url, &[], &["download", "google/flan-t5-base"]));
    assert_eq!(
        std::fs::read(by_name(&paths, "model.safetensors")).unwrap(),
        weights
    );
}

#[test]
fn a_renamed_repository_is_followed() {
    let hub = HubServer::start();
    hub.add(flan_repo("google/flan-t5-base"));
    hub.rename(Kind::Model, "google/flan-t5-old", "google/flan-t5-base");
    let home = Home::new();
    let paths = lines(&home.ok(&hub.url, &[], &["download", "google/flan-t5-old"]));
    assert!(by_name(&paths, "config.json")
        .starts_with(home.cache().join("models--google--flan-t5-old")));
    assert!(hub.count("HEAD", "/google/flan-t5-base/resolve/main/config.json") >= 1);
}

#[test]
fn each_error_status_gives_its_message() {
    let hub = HubServer::start();
    hub.accept_token("hf_valid");
    let mut private = flan_repo("someone/private");
    private.access = Access::Private;
    hub.add(private);
    let mut gated = flan_repo("someone/gated");
    gated.access = Access::Gated;
    hub.add(gated);
    let mut forbidden = flan_repo("someone/forbidden");
    forbidden.access = Access::Forbidden;
    hub.add(forbidden);
    hub.add(
        Repo::new(Kind::Model, "someone/no-tokenizer")
            .with_dir(&flan_like(), &["config.json", "model.safetensors"]),
    );
    hub.add(
        Repo::new(Kind::Model, "someone/pickled")
            .with_dir(&flan_like(), &["config.json", "tokenizer.json"])
            .with_file("pytorch_model.bin", vec![0; 10]),
    );
    let home = Home::new();
    let token = [("HF_TOKEN", "hf_valid")];
    let bad_token = [("HF_TOKEN", "hf_stale")];
    let check = |extra: &[(&str, &str)], reference: &str, wanted: &[&str]| {
        let err = home.refused(&hub.url, extra, &["download", reference]);
        // Shown with --nocapture, to read the messages whole.
        println!("{reference}: {err}");
        for w in wanted {
            assert!(err.contains(w), "{reference}: wanted '{w}' in:\n{err}");
        }
        assert!(
            !err.contains("has no model.safetensors") || reference.ends_with("pickled"),
            "{err}"
        );
        err
    };
    check(
        &[],
        "someone/private",
        &["401", "no token was sent", "HF_TOKEN"],
    );
    check(
        &bad_token,
        "someone/private",
        &["refused the token (401)", "HF_TOKEN"],
    );
    let gated_page = format!("accept its terms at {}/someone/gated", hub.url);
    check(&[], "someone/gated", &["gated", "401", gated_page.as_str()]);
    check(
        &token,
        "someone/gated",
        &["gated", "403", gated_page.as_str()],
    );
    check(
        &token,
        "someone/forbidden",
        &["403 forbidden", "someone/forbidden"],
    );
    check(
        &token,
        "someone/missing",
        &["someone/missing", "does not exist", "(404)"],
    );
    check(&token, "someone/no-tokenizer", &["has no tokenizer.json"]);
    check(
        &token,
        "someone/pickled",
        &["has no model.safetensors", "pytorch_model.bin"],
    );
    let err = check(
        &token,
        "hf:someone/missing:train",
        &["dataset someone/missing", "(404)"],
    );
    assert!(!err.contains("no data files"), "{err}");
    // Nothing listens on port 9 of the loopback: the connection is refused.
    let err = home.refused(
        "http://127.0.0.1:9",
        &[("LORATUNE_HUB_RETRIES", "0")],
        &["download", "google/flan-t5-base"],
    );
    assert!(
        err.contains("unreachable") && err.contains("127.0.0.1:9"),
        "{err}"
    );
    assert!(err.to_lowercase().contains("refused"), "{err}");
}

#[test]
fn the_token_is_sent_from_each_of_its_places() {
    let hub = HubServer::start();
    hub.accept_token("hf_secret");
    let mut private = flan_repo("someone/private");
    private.access = Access::Private;
    private.readers = vec!["hf_secret".into()];
    hub.add(private);
    let elsewhere = tempfile::tempdir().unwrap();
    let token_file = elsewhere.path().join("my-token");
    std::fs::write(&token_file, "hf_secret\n").unwrap();
    let token_path = token_file.to_str().unwrap().to_string();
    let places: [(&str, Vec<(&str, &str)>); 3] = [
        ("HF_TOKEN", vec![("HF_TOKEN", "hf_secret")]),
        (
            "HF_TOKEN_PATH",
            vec![("HF_TOKEN_PATH", token_path.as_str())],
        ),
        ("HF_HOME/token", vec![]),
    ];
    for (place, extra) in places {
        let home = Home::new();
        if place == "HF_HOME/token" {
            std::fs::create_dir_all(home.hf_home()).unwrap();
            std::fs::write(home.hf_home().join("token"), "hf_secret").unwrap();
        }
        hub.forget_requests();
        home.ok(&hub.url, &extra, &["download", "someone/private"]);
        let heads: Vec<_> = hub
            .seen()
            .into_iter()
            .filter(|s| s.method == "HEAD")
            .collect();
        assert!(!heads.is_empty());
        for seen in heads {
            assert_eq!(
                seen.authorization.as_deref(),
                Some("Bearer hf_secret"),
                "{place}"
            );
        }
    }
}

#[test]
fn quickstart_reports_a_refused_token_and_goes_offline_only_without_a_hub() {
    let hub = HubServer::start();
    hub.accept_token("hf_valid");
    hub.add(
        Repo::new(Kind::Model, "distilbert-base-uncased").with_file("config.json", b"{}".to_vec()),
    );
    let home = Home::new();
    // No ../shared beside this folder: the offline path has no data.
    let work = home.dir.path().join("a/b");
    std::fs::create_dir_all(&work).unwrap();
    let out = work.join("runs/q");
    let quickstart = |endpoint: &str, extra: &[(&str, &str)]| {
        let output = home
            .command(
                endpoint,
                extra,
                &["quickstart", "--output", out.to_str().unwrap()],
            )
            .current_dir(&work)
            .env("LORATUNE_HUB_RETRIES", "0")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let err = quickstart(&hub.url, &[("HF_TOKEN", "hf_stale")]);
    assert!(err.contains("refused the token (401)"), "{err}");
    assert!(!err.contains("offline"), "{err}");
    assert_eq!(
        hub.count("HEAD", "/distilbert-base-uncased/resolve/main/config.json"),
        1
    );
    assert_eq!(hub.seen().len(), 1, "one small request probes the Hub");
    let err = quickstart("http://127.0.0.1:9", &[]);
    assert!(
        err.contains("offline (")
            && err.contains("127.0.0.1:9")
            && err.contains("IMDB files are missing"),
        "{err}"
    );
}

/// Python's `huggingface_hub` reads the cache we fill (scripts/check_hub_cache.py). Ignored:
/// it needs a Python with `huggingface_hub` (`LORATUNE_PYTHON`, else `python3`); run with
/// `cargo test --test hub -- --ignored`.
#[test]
#[ignore]
fn python_huggingface_hub_reads_our_cache() {
    let hub = HubServer::start();
    hub.add(flan_repo("google/flan-t5-base"));
    let parquet = std::fs::read(common::fixtures().join("data/imdb_sample.parquet")).unwrap();
    hub.add(
        Repo::new(Kind::Dataset, "someone/imdb-mini")
            .with_file("plain_text/test-00000-of-00001.parquet", parquet),
    );
    let home = Home::new();
    home.ok(&hub.url, &[], &["download", "google/flan-t5-base"]);
    home.ok(&hub.url, &[], &["download", "hf:someone/imdb-mini:test"]);
    let python = std::env::var("LORATUNE_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check_hub_cache.py");
    let out = Command::new(&python)
        .arg(&script)
        .args([
            "--model",
            "google/flan-t5-base",
            "--dataset",
            "someone/imdb-mini",
        ])
        .arg("--expect-dir")
        .arg(flan_like())
        .env("HF_HUB_CACHE", home.cache())
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (set LORATUNE_PYTHON): {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    assert!(out.status.success() && text.contains("\nOK"), "{text}");
}

/// A download lock held by Python's `huggingface_hub` (its `WeakFileLock`, a `flock`) makes
/// loratune wait. Ignored for the same reason as the test above.
#[test]
#[ignore]
fn loratune_waits_for_python_holding_the_download_lock() {
    let hub = HubServer::start();
    hub.add(flan_repo("google/flan-t5-base"));
    let home = Home::new();
    let weights = std::fs::read(flan_like().join("model.safetensors")).unwrap();
    let lock = home.cache().join(format!(
        ".locks/models--google--flan-t5-base/{}.lock",
        sha256(&weights)
    ));
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let python = std::env::var("LORATUNE_PYTHON").unwrap_or_else(|_| "python3".into());
    let holder = "import sys, time\nfrom huggingface_hub.utils import WeakFileLock\n\
                  with WeakFileLock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(3)\n";
    let mut python_child = Command::new(&python)
        .args(["-c", holder])
        .arg(&lock)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python} (set LORATUNE_PYTHON): {e}"));
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(python_child.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    assert_eq!(first.trim(), "held", "Python could not take the lock");
    let started = std::time::Instant::now();
    let out = home.run(&hub.url, &[], &["download", "google/flan-t5-base"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("another process is downloading model.safetensors"),
        "{stderr}"
    );
    assert!(
        started.elapsed().as_secs_f64() > 1.5,
        "{:?}",
        started.elapsed()
    );
    assert!(python_child.wait().unwrap().success());
}
