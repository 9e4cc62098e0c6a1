//! The `switchyard` binary's library: command-line arguments, settings, and the wiring that
//! starts components. The binary (`main.rs`) only calls [`entry::main`]; tests start components
//! through [`components::start`] exactly as the binary does.

pub mod bench;
pub mod cli;
pub mod commands;
pub mod components;
pub mod dlq;
pub mod email;
pub mod entry;
pub mod messages;
pub mod payments;
pub mod push;
pub mod settings;
