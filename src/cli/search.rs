use anyhow::{bail, Context};
use clap::Args;
use loratune::search::outputs::{leaderboard, status, write, OutputPlan};
use loratune::search::trial::Params;
use loratune::search::{
    enqueue, work, CommandObjective, Space, Strategy, StudyConfig, TrainObjective, TrialRunner,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `loratune search RECIPE --space SPACE.toml ...`
#[derive(Args)]
pub struct SearchArgs {
    /// The recipe every trial starts from (TOML).
    recipe: PathBuf,
    /// The space file: [objective] (metric, direction), [pruner] and [params].
    #[arg(long)]
    space: PathBuf,
    /// How parameters are chosen: grid, random or tpe.
    #[arg(long, default_value = "tpe")]
    strategy: Strategy,
    /// Run until the study has N complete and pruned trials (rerunning resumes the study).
    #[arg(long, default_value_t = 20)]
    trials: usize,
    /// Worker processes started here; the cores are divided between them.
    #[arg(long, default_value_t = 1)]
    parallel: usize,
    /// The study database: sqlite:PATH or postgres://USER@HOST:PORT/DB (default: sqlite:OUTPUT/study.db).
    #[arg(long)]
    storage: Option<String>,
    /// The study's name in the database (workers with the same storage and study share it).
    #[arg(long, default_value = "default")]
    study: String,
    /// Where trials.jsonl, best.toml, best/adapter/ and trials/N/ go.
    #[arg(long, default_value = "search")]
    output: PathBuf,
    /// Seeds the sampler (each trial keeps the recipe's train.seed).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Keep every trial's folder (by default only the best trial's is kept).
    #[arg(long)]
    keep_all: bool,
    /// Override a recipe key for every trial (repeatable), as `run --set`.
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    overrides: Vec<String>,
    /// A trial whose worker sent no heartbeat for this long is failed and retried once
    /// (e.g. 300, 90s, 5m, 1h).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    heartbeat_timeout: Duration,
    /// Instead of training, run `sh -c CMD` per trial: parameters as JSON on stdin and in
    /// LORATUNE_PARAMS (each also as LORATUNE_PARAM_<KEY>, e.g. LORATUNE_PARAM_LORA_R); it
    /// prints `intermediate VALUE` lines (pruning may kill it after one) and one
    /// `objective VALUE...` line.
    #[arg(long, value_name = "CMD")]
    objective_command: Option<String>,
    /// Print the study's trials and leaderboard, then exit.
    #[arg(long)]
    status: bool,
    /// Write the study's outputs (trials.jsonl, best.toml, best/adapter/ from the database)
    /// into --output without running trials, then exit: from any machine that reaches the
    /// storage.
    #[arg(long)]
    report: bool,
    /// Queue a trial with the parameters of this TOML file ("section.key" = value), then exit.
    #[arg(long, value_name = "PARAMS.toml")]
    enqueue: Option<PathBuf>,
    /// Run trials only (a worker started by --parallel; the parent writes the outputs).
    #[arg(long, hide = true)]
    worker: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}`: expected a duration such as 300, 90s, 5m or 1h"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("`{text}`: unknown unit `{unit}` (ms, s, m, h)")),
    };
    if !(seconds > 0.0 && seconds.is_finite()) {
        return Err(format!("`{text}`: must be above zero"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn read_params(path: &Path) -> anyhow::Result<Params> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    table
        .into_iter()
        .map(|(k, v)| Ok((k, serde_json::to_value(v)?)))
        .collect()
}

pub fn run(args: SearchArgs) -> anyhow::Result<()> {
    let space = Space::load(&args.space)?;
    // the recipe and overrides must load before any worker starts
    loratune::recipe::Recipe::load(&args.recipe, &args.overrides)?;
    let storage = args
        .storage
        .clone()
        .unwrap_or_else(|| format!("sqlite:{}", args.output.join("study.db").display()));
    let config = StudyConfig {
        storage,
        study: args.study.clone(),
        space: space.clone(),
        strategy: args.strategy,
        seed: args.seed,
        trials: args.trials,
        heartbeat_timeout: args.heartbeat_timeout,
    };
    if args.status {
        let trials = config.open()?.trials(&config.study)?;
        println!(
            "study `{}` in {}: {} trials",
            config.study,
            config.storage,
            trials.len()
        );
        print!("{}", status(&trials, &space));
        println!();
        return Ok(());
    }
    if let Some(path) = &args.enqueue {
        let number = enqueue(&config, read_params(path)?)?;
        println!("queued trial {number} in study `{}`", config.study);
        return Ok(());
    }
    let runner: Box<dyn TrialRunner> = match &args.objective_command {
        Some(command) => Box::new(CommandObjective {
            command: command.clone(),
            metrics: space.objective.metrics.len(),
            output: args.output.clone(),
        }),
        None => Box::new(TrainObjective {
            recipe: args.recipe.clone(),
            overrides: args.overrides.clone(),
            output: args.output.clone(),
            metrics: space.objective.metrics.clone(),
        }),
    };
    if args.report {
        // no trials here
    } else if args.worker || args.parallel <= 1 {
        work(&config, runner.as_ref())?;
    } else {
        spawn_workers(&config, args.parallel)?;
    }
    if args.worker {
        return Ok(());
    }
    let mut db = config.open()?;
    let trials = db.trials(&config.study)?;
    let stored_adapter = db.best_adapter(&config.study)?;
    let trial_dir = |n: u64| runner.trial_dir(n);
    let best = write(
        &OutputPlan {
            output: &args.output,
            study: &config.study,
            storage: &loratune::search::storage::redact(&config.storage),
            recipe: &args.recipe,
            overrides: &args.overrides,
            trial_dir: &trial_dir,
            stored_adapter: stored_adapter.as_ref(),
            keep_all: args.keep_all,
        },
        &trials,
        &space,
    )?;
    println!("{}", leaderboard(&trials, &space, 10));
    match best {
        Some(n) => println!(
            "best: trial {n}; recipe {}",
            args.output.join("best.toml").display()
        ),
        None => println!("no trial completed"),
    }
    Ok(())
}

/// `--parallel K`: K copies of this command as workers, each with cores / K threads.
fn spawn_workers(config: &StudyConfig, k: usize) -> anyhow::Result<()> {
    config.open()?; // create the study once, before the workers race to
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let threads = (cores / k).max(1).to_string();
    let exe = std::env::current_exe()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut children = Vec::new();
    for _ in 0..k {
        children.push(
            std::process::Command::new(&exe)
                .args(&args)
                .arg("--worker")
                .env("RAYON_NUM_THREADS", &threads)
                .env(loratune::progress::NO_BARS_ENV, "1")
                .spawn()?,
        );
    }
    // the workers print a line per trial; the study's overall bar is drawn here
    let overall = loratune::progress::bar(config.trials as u64, "trials");
    let mut db = config.open()?;
    let mut failed = 0;
    while !children.is_empty() {
        std::thread::sleep(std::time::Duration::from_millis(500));
        if let Ok(trials) = db.trials(&config.study) {
            overall.set_position(loratune::search::study::counted(&trials) as u64);
        }
        let mut running = Vec::new();
        for mut child in children {
            match child.try_wait()? {
                Some(status) => failed += usize::from(!status.success()),
                None => running.push(child),
            }
        }
        children = running;
    }
    overall.finish_and_clear();
    if failed > 0 {
        bail!("{failed} of {k} workers failed");
    }
    Ok(())
}
