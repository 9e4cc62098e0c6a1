//! State shared by the server, its handlers, the callback tasks and every
//! [`crate::SandboxHandle`] clone.

use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::twilio::message::Message;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::TwilioConfig;
use crate::faults::{FaultConfig, FinalStatus};
use crate::idempotency::IdempotencyStore;
use crate::injector::{FaultState, Injected};
use crate::push_accounts::PushAccounts;
use crate::record::Recorder;

/// Cheap to clone: one `Arc`.
#[derive(Clone, Debug)]
pub(crate) struct AppState(Arc<Shared>);

/// Everything behind [`AppState`].
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) twilio: TwilioConfig,
    /// The emulated FCM and APNs credentials.
    pub(crate) push: PushAccounts,
    pub(crate) record: Recorder,
    /// Messages the SMTP relays took.
    pub(crate) mail: crate::smtp::MailRecord,
    /// Client for status callbacks.
    pub(crate) http: reqwest::Client,
    /// When the sandbox started: the emulated account's creation date.
    pub(crate) started_at: DateTime<Utc>,
    /// Where clients reach the sandbox, for the links and URLs it hands out.
    pub(crate) base_url: String,
    /// Stored answers of idempotent Stripe and PayPal requests.
    pub(crate) idempotency: IdempotencyStore,
    /// The emulated Stripe account and its objects.
    pub(crate) stripe: crate::stripe::StripeState,
    /// The emulated PayPal app, its tokens and its objects.
    pub(crate) paypal: crate::paypal::PayPalState,
    faults: Mutex<FaultState>,
    /// Every message created, oldest first (what Twilio's list endpoint returns).
    messages: Mutex<Vec<Message>>,
    /// `true` once shutdown was asked for.
    shutdown: watch::Sender<bool>,
    /// `true` once the server stopped serving.
    stopped: watch::Sender<bool>,
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState::new`] is built from.
pub(crate) struct Setup {
    pub(crate) twilio: TwilioConfig,
    pub(crate) push: PushAccounts,
    pub(crate) stripe: crate::stripe::StripeConfig,
    pub(crate) paypal: crate::paypal::PayPalConfig,
    pub(crate) faults: FaultConfig,
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
}

impl AppState {
    /// State for a sandbox starting now.
    pub(crate) fn new(setup: Setup) -> Result<Self, String> {
        let Setup {
            twilio,
            push,
            stripe,
            paypal,
            faults,
            http,
            base_url,
        } = setup;
        Ok(Self(Arc::new(Shared {
            twilio,
            push,
            record: Recorder::default(),
            mail: crate::smtp::MailRecord::default(),
            http,
            started_at: Utc::now(),
            idempotency: IdempotencyStore::default(),
            stripe: crate::stripe::StripeState::new(stripe),
            paypal: crate::paypal::PayPalState::new(paypal, &base_url)?,
            base_url,
            faults: Mutex::new(FaultState::new(faults, Instant::now())),
            messages: Mutex::default(),
            shutdown: watch::Sender::new(false),
            stopped: watch::Sender::new(false),
        })))
    }
}

impl Shared {
    /// Keeps a created message for the list endpoint.
    pub(crate) fn remember(&self, message: &Message) {
        self.messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(message.clone());
    }

    /// Created messages matching `keep`, newest first (Twilio's order).
    pub(crate) fn messages_where(&self, keep: impl Fn(&Message) -> bool) -> Vec<Message> {
        let all = self.messages.lock().unwrap_or_else(PoisonError::into_inner);
        all.iter().rev().filter(|m| keep(m)).cloned().collect()
    }

    /// The faults in force.
    pub(crate) fn faults(&self) -> FaultConfig {
        self.lock_faults().config(Instant::now())
    }

    /// Replaces the faults (the caller has validated them).
    pub(crate) fn set_faults(&self, faults: FaultConfig) {
        self.lock_faults().replace(faults, Instant::now());
    }

    /// Runs `f` on the SMTP faults under the fault lock, so a one-shot fault fires once.
    pub(crate) fn with_smtp_faults<R>(
        &self,
        f: impl FnOnce(&mut crate::smtp::SmtpFaults) -> R,
    ) -> R {
        f(self.lock_faults().smtp_mut())
    }

    /// The status new messages' callbacks end with.
    pub(crate) fn final_status(&self) -> FinalStatus {
        let faults = self.faults();
        // Faults are validated before they are stored, so this falls back only in theory.
        FinalStatus::parse(faults.final_status.as_deref()).unwrap_or(FinalStatus::Delivered)
    }

    /// Waits out the configured latency, then decides this request's fault, in that order so
    /// a slow outage looks like a slow provider that then fails.
    pub(crate) async fn injected_fault(&self) -> Option<Injected> {
        let latency = self.latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        self.next_fault()
    }

    /// The configured latency.
    pub(crate) fn latency(&self) -> Duration {
        self.lock_faults().latency()
    }

    /// This request's fault, decided now, without the latency (see `pipeline.rs` for the
    /// endpoints that wait after their work instead).
    pub(crate) fn next_fault(&self) -> Option<Injected> {
        self.lock_faults()
            .next_fault(Instant::now(), fastrand::f64())
    }

    /// Sleeps `duration`; `false` if shutdown was asked for first.
    pub(crate) async fn pause(&self, duration: Duration) -> bool {
        let mut shutdown = self.shutdown.subscribe();
        tokio::select! {
            () = tokio::time::sleep(duration) => true,
            _ = shutdown.wait_for(|asked| *asked) => false,
        }
    }

    /// Asks the server and callback tasks to stop; repeated calls change nothing.
    pub(crate) fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Resolves once shutdown was asked for.
    pub(crate) async fn shutdown_requested(&self) {
        let mut shutdown = self.shutdown.subscribe();
        // An error means the sender is gone, which only happens as the state is dropped.
        let _ = shutdown.wait_for(|asked| *asked).await;
    }

    /// Marks the server as stopped.
    pub(crate) fn mark_stopped(&self) {
        self.stopped.send_replace(true);
    }

    /// Resolves once the server stopped.
    pub(crate) async fn stopped(&self) {
        let mut stopped = self.stopped.subscribe();
        let _ = stopped.wait_for(|done| *done).await;
    }

    /// The fault state stays usable after a panic elsewhere: every update replaces whole
    /// values, so a poisoned lock never guards half-written data.
    fn lock_faults(&self) -> MutexGuard<'_, FaultState> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
