//! The `switchyard` program: parse the command line, set up logging, dispatch. The binary's
//! `main` is only a call to [`main`]; the fault-injection suite builds the same program into
//! its own binary so it can start, SIGKILL and restart real worker processes.

use std::process::ExitCode;

use crate::cli::{AuditAction, Cli, Command, MessagesAction};
use crate::{commands, components};
use clap::Parser;
use tokio_util::sync::CancellationToken;

/// Runs `switchyard` with the process's arguments and returns its exit code.
pub fn main() -> ExitCode {
    main_with(std::env::args_os())
}

/// Runs `switchyard` with `args` (the first is the program name), as [`main`] does.
pub fn main_with<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::parse_from(args);
    // The bench prints a table; per-delivery logs would drown it.
    let filter = if matches!(cli.command, Command::Bench(_)) {
        "warn"
    } else {
        cli.settings.log.as_str()
    };
    switchyard_telemetry::logging::init(cli.settings.log_json, filter);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime starts");
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let settings = &cli.settings;
    match &cli.command {
        Command::Run {
            components: names,
            run,
        } => {
            let set = components::expand(names, run).map_err(anyhow::Error::msg)?;
            // Listen for signals before starting anything, so a SIGTERM during start-up is a
            // graceful stop too, not the default "die now".
            let mut signals = Signals::install()?;
            let shutdown = CancellationToken::new();
            let mut running = components::start(&set, settings, run, shutdown.clone()).await?;
            print_banner(&running);
            signals.wait().await;
            tracing::info!("shutting down: finishing in-flight work");
            shutdown.cancel();
            while let Some(done) = running.tasks.join_next().await {
                if let Ok(Err(error)) = done {
                    tracing::error!(%error, "component failed");
                }
            }
            Ok(())
        }
        Command::Bench(args) => crate::bench::run(settings, args).await,
        Command::Migrate => commands::migrate(settings).await,
        Command::Topology { action } => commands::topology(settings, action).await,
        Command::Keys { action } => commands::keys(settings, action).await,
        Command::Dlq { action } => crate::dlq::run(settings, action).await,
        Command::Messages {
            action: MessagesAction::Show { id, json },
        } => crate::messages::show(settings, id, *json).await,
        Command::Audit {
            action: AuditAction::List { limit, json },
        } => crate::dlq::audit(settings, *limit, *json).await,
        Command::Sandbox { listen } => {
            let config = switchyard_sandbox::SandboxConfig {
                listen: *listen,
                ..Default::default()
            };
            let mut signals = Signals::install()?;
            let sandbox = switchyard_sandbox::start(config).await?;
            println!(
                "provider sandbox on {} (Twilio API; admin under /_sandbox)",
                sandbox.base_url()
            );
            signals.wait().await;
            sandbox.shutdown();
            Ok(())
        }
    }
}

fn print_banner(running: &components::Running) {
    use std::io::Write as _;
    // A closed stdout (the reader went away) must not take the service down with it.
    let mut out = std::io::stdout().lock();
    if let Some(addr) = running.ingress {
        let _ = writeln!(out, "ingress        http://{addr}  (POST /v1/messages)");
    }
    if let Some(sandbox) = &running.sandbox {
        let _ = writeln!(
            out,
            "sandbox        {}  (GET /_sandbox/requests)",
            sandbox.base_url()
        );
        let smtp = sandbox.smtp();
        let secondary = smtp
            .secondary
            .map(|addr| format!(", smtp://{addr} (failover)"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "sandbox smtp   smtp://{}{secondary}  (GET /_sandbox/mail)",
            smtp.primary
        );
    }
    let _ = writeln!(
        out,
        "metrics        http://{}/metrics  (/healthz, /readyz)",
        running.metrics
    );
    let _ = out.flush();
}

/// SIGTERM (Kubernetes, systemd) and Ctrl-C.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        Ok(Self {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        })
    }

    async fn wait(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = self.term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
