//! The emulated PayPal REST API (work in progress).

mod config;

pub use self::config::{
    DEFAULT_PAYPAL_CLIENT_ID, DEFAULT_PAYPAL_CLIENT_SECRET, DEFAULT_PAYPAL_WEBHOOK_ID, PayPalConfig,
};

/// The emulated PayPal app.
#[derive(Debug)]
pub(crate) struct PayPalState {
    pub(crate) config: PayPalConfig,
}

impl PayPalState {
    /// A fresh app.
    pub(crate) fn new(config: PayPalConfig, _base_url: &str) -> Result<Self, String> {
        Ok(Self { config })
    }
}
