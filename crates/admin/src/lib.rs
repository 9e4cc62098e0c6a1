//! The dead-letter workbench. Parked messages are ingested from every `<integration>.dead`
//! queue into Postgres (payload encrypted at rest), where admins list, search, group,
//! inspect, replay (rate-limited, filtered, dry run, interruptible), edit-and-replay and purge
//! them — from the CLI (`switchyard dlq …`) and the admin HTTP API (`/v1/admin/dead-letters…`).
//! Every admin action is written to the audit log.

pub mod api;
mod edit;
mod error;
pub mod filter;
pub mod headers;
pub mod ingest;
mod workbench;

pub use edit::EditReport;
pub use error::AdminError;
pub use ingest::Ingester;
pub use workbench::{REPLAY_OF, ReplayReport, Workbench};
