//! Provider webhook signatures: the pure computations, shared by the ingress (which verifies)
//! and the provider sandbox (which signs, as the real provider would).

pub mod twilio;
