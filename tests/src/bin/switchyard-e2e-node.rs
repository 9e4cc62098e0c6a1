//! The `switchyard` program, built into the e2e crate so the fault-injection suite gets its
//! path from cargo (`CARGO_BIN_EXE_switchyard-e2e-node`) and can run, SIGKILL and restart real
//! worker processes.

fn main() -> std::process::ExitCode {
    switchyard_cli::entry::main()
}
