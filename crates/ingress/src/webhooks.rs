//! Provider webhooks. Each provider has one small verifier module; all of them take the raw
//! request ([`verifier::Inbound`]) and share the constant-time comparison and replay window in
//! [`shared`]. [`gateway`] serves `/webhooks/{source}[/{tenant}]` for the sources configured in
//! the webhooks file ([`config`]); Twilio's status callback keeps its own route.

pub mod config;
pub mod gateway;
pub mod graph;
pub mod hmac;
pub mod paypal;
pub mod paypal_cert;
pub mod shared;
pub mod standard;
pub mod stripe;
pub mod twilio;
pub mod verifier;
pub mod zoom;
