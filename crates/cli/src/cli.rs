//! The command line. `switchyard --help` and each subcommand's `--help` are the reference.

use clap::{Parser, Subcommand};

use crate::settings::{RunSettings, Settings};

/// Switchyard: the integration worker fleet of the school ERP.
///
/// Other systems publish messages (HTTP `POST /v1/messages` or AMQP); Switchyard delivers them
/// to SMS, email, push, payments and more, with retries, dead-lettering and circuit breakers.
/// RabbitMQ carries the messages, Postgres keeps the delivery log, and every component serves
/// Prometheus metrics.
///
/// Start everything on a laptop (with the provider sandbox standing in for Twilio):
///
///   switchyard run all
#[derive(Parser, Debug)]
#[command(name = "switchyard", version, propagate_version = true)]
pub struct Cli {
    /// Connections and logging, shared by every command.
    #[command(flatten)]
    pub settings: Settings,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run components: `all`, or any of `ingress`, `sms`, `dead-letters`, `sandbox`.
    ///
    /// One process can run everything (`run all`, for a laptop), or one component per pod in
    /// production (`run ingress`, `run sms`). `all` includes the provider sandbox unless
    /// SWITCHYARD_TWILIO_BASE_URL points at the real Twilio. Stops on SIGTERM/Ctrl-C after
    /// in-flight work finishes (see --shutdown-grace-secs).
    Run {
        /// Components to run.
        #[arg(required = true, value_name = "COMPONENT")]
        components: Vec<String>,
        /// Listeners, provider settings, shutdown.
        #[command(flatten)]
        run: Box<RunSettings>,
    },
    /// Apply the database migrations (also done at every start).
    Migrate,
    /// Show or declare the RabbitMQ topology from queues.toml.
    Topology {
        /// `apply` or `show`.
        #[command(subcommand)]
        action: TopologyAction,
    },
    /// Manage ingress API keys.
    Keys {
        /// `create`, `list` or `revoke`.
        #[command(subcommand)]
        action: KeysAction,
    },
    /// The dead-letter workbench: list, group, show, replay, edit, purge parked messages.
    Dlq {
        /// What to do.
        #[command(subcommand)]
        action: Box<crate::dlq::DlqAction>,
    },
    /// What happened to a message: its status per integration, every status it went through
    /// and every attempt (the same as `GET /v1/messages/{id}`).
    Messages {
        /// What to do.
        #[command(subcommand)]
        action: MessagesAction,
    },
    /// The audit log of admin actions.
    Audit {
        /// What to do.
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Measure throughput and latency against RabbitMQ's own limit on this machine.
    ///
    /// Runs the raw broker, the ingress and the whole pipeline (with the provider sandbox) in a
    /// throwaway namespace, prints a table and writes a JSON report. Needs RabbitMQ and
    /// Postgres like `run`.
    Bench(crate::bench::BenchArgs),
    /// Run only the provider sandbox (Twilio's API emulated on localhost, with fault injection).
    ///
    /// Admin API: GET /_sandbox/requests, GET /_sandbox/callbacks,
    /// GET|PUT /_sandbox/faults (e.g. {"outage": {"status": 503, "seconds": 30}}).
    Sandbox {
        /// Where to listen.
        #[arg(
            long,
            env = "SWITCHYARD_SANDBOX_LISTEN",
            default_value = "127.0.0.1:8025"
        )]
        listen: std::net::SocketAddr,
    },
}

/// `switchyard topology …`.
#[derive(Subcommand, Debug)]
pub enum TopologyAction {
    /// Declare exchanges and queues (idempotent). Refuses, naming the argument, when a queue
    /// exists with different arguments.
    Apply,
    /// Print the topology queues.toml describes (no broker needed).
    Show,
}

/// `switchyard keys …`.
#[derive(Subcommand, Debug)]
pub enum KeysAction {
    /// Create a key. The token is printed once; only its hash is stored.
    Create {
        /// Who uses the key (e.g. `erp-fees`).
        #[arg(long)]
        name: String,
        /// `publisher` (may publish the scoped types) or `admin` (everything, admin API).
        #[arg(long, default_value = "publisher")]
        role: String,
        /// Message-type scopes, repeatable: `sms.` (prefix), `sms.send` (exact), `*` (all).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    /// List keys (never their tokens).
    List,
    /// Revoke a key by id; the ingress refuses it from then on.
    Revoke {
        /// The key's id (from `keys list`).
        id: String,
    },
}

/// `switchyard messages …`.
#[derive(Subcommand, Debug)]
pub enum MessagesAction {
    /// One message's history, e.g. `switchyard messages show 0193b8f0-5c4a-7c3e-9f1e-2a4b6c8d0e1f`.
    Show {
        /// The message id (the `id` the ingress answered with).
        id: String,
        /// JSON for scripts (the API's shape).
        #[arg(long)]
        json: bool,
    },
}

/// `switchyard audit …`.
#[derive(Subcommand, Debug)]
pub enum AuditAction {
    /// Newest entries first: who did what, with which filter, to how many.
    List {
        /// How many entries.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}
