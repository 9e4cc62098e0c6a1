//! Log set-up: human-readable by default, JSON lines in production (`--log-json`).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `filter` uses `RUST_LOG` syntax (e.g. `info,lapin=warn`);
/// calling it twice is harmless (the second call is ignored), which keeps tests simple.
///
/// Logs go to stderr: stdout is for what a command prints (tables, JSON for scripts, the
/// start-up banner), so piping it never mixes in log lines.
pub fn init(json: bool, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
