//! Progress bars for long work (hidden when stderr is not a terminal).
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::sync::OnceLock;

/// Every bar of the process is drawn through one `MultiProgress`, so that bars alive at once
/// (a search's overall bar and its trial's training bar) stack instead of overwriting each other.
fn all_bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(MultiProgress::new)
}

/// Set in the worker processes of `search --parallel`: their parent draws the one bar.
pub const NO_BARS_ENV: &str = "LORATUNE_NO_PROGRESS_BARS";

/// A bar counting items (steps, examples, trials).
pub fn bar(len: u64, message: &str) -> ProgressBar {
    styled(
        len,
        message,
        "{msg:>12} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta})",
    )
}

/// A bar counting bytes (downloads).
pub fn bytes_bar(len: u64, message: &str) -> ProgressBar {
    styled(
        len,
        message,
        "{msg} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
    )
}

fn styled(len: u64, message: &str, template: &str) -> ProgressBar {
    if std::env::var_os(NO_BARS_ENV).is_some() {
        return ProgressBar::hidden();
    }
    let bar = all_bars().add(ProgressBar::new(len));
    let style =
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(message.to_string());
    bar
}

/// Prints a line to stdout without tearing the bars being drawn.
pub fn println(line: &str) {
    all_bars().suspend(|| println!("{line}"));
}
