//! Provider webhooks. Each provider's module verifies its signature before anything else.

pub mod twilio;
