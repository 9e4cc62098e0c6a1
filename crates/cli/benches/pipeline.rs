//! `cargo bench -p switchyard-cli`: the same benchmark as `switchyard bench` (raw RabbitMQ limit,
//! ingress, end to end, cost), against the local RabbitMQ and Postgres. Options come from the
//! environment as for `switchyard` (`SWITCHYARD_AMQP_URL`, `SWITCHYARD_DATABASE_URL`, …) and
//! `SWITCHYARD_BENCH_MESSAGES` / `SWITCHYARD_BENCH_CLIENTS`.
//!
//! `cargo test --all-targets` runs this target without `--bench`: then it is a smoke run (200
//! messages), which keeps the bench working in CI without timing anything there.

use std::process::ExitCode;

fn main() -> ExitCode {
    // The bench runs its worker as a process of its own: this very binary, `run sms`.
    if std::env::args().nth(1).as_deref() == Some("run") {
        return switchyard_cli::entry::main();
    }
    let full = std::env::args().any(|arg| arg == "--bench");
    let report = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-report.json");
    let mut args = vec!["switchyard".to_owned(), "bench".to_owned()];
    // Cargo runs benches from the package directory: point at the shipped topology, and in a
    // test run at the test database, unless the environment says otherwise.
    if std::env::var_os("SWITCHYARD_QUEUES").is_none() {
        let queues = concat!(env!("CARGO_MANIFEST_DIR"), "/../../queues.toml");
        args.extend(["--queues".to_owned(), queues.to_owned()]);
    }
    if let (false, None, Some(test_db)) = (
        full,
        std::env::var_os("SWITCHYARD_DATABASE_URL"),
        std::env::var("SWITCHYARD_TEST_DATABASE_URL").ok(),
    ) {
        args.extend(["--database-url".to_owned(), test_db]);
    }
    if full {
        for (flag, var) in [
            ("--messages", "SWITCHYARD_BENCH_MESSAGES"),
            ("--clients", "SWITCHYARD_BENCH_CLIENTS"),
        ] {
            if let Ok(value) = std::env::var(var) {
                args.extend([flag.to_owned(), value]);
            }
        }
    } else {
        args.push("--smoke".to_owned());
    }
    args.extend(["--json".to_owned(), report.display().to_string()]);
    switchyard_cli::entry::main_with(args)
}
