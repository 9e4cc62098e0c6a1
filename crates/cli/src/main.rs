//! `switchyard`: everything is in the library's [`switchyard_cli::entry`].

fn main() -> std::process::ExitCode {
    switchyard_cli::entry::main()
}
