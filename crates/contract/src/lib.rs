//! The Switchyard message contract: the envelope other systems publish, the worker trait every
//! integration implements, the error classes and outcomes the runtime acts on, and the JSON
//! Schemas of every message type (the message catalogue). This crate does no I/O; everything
//! else depends on it, never the reverse.

pub mod catalogue;
pub mod envelope;
pub mod failure;
pub mod signature;
pub mod worker;

pub use envelope::{Envelope, FieldError};
pub use failure::{Classify, ErrorClass, Failure, Outcome};
pub use worker::{DeliveryContext, Done, Worker};
