//! The objects an emulated payment provider holds (sessions, payments, refunds,
//! subscriptions), kept as the JSON resources the provider returns, so what a test reads back
//! is exactly what a client was sent.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::Value;

/// One provider's objects by id, plus its refunds in order of creation.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    inner: Mutex<Objects>,
}

/// The objects behind the lock; a multi-object change (check a payment, add a refund, update
/// the payment) happens under one [`Ledger::with`], so two concurrent refunds cannot both
/// pass the "what is left" check.
#[derive(Debug, Default)]
pub(crate) struct Objects {
    by_id: HashMap<String, Value>,
    refunds: Vec<String>,
    /// Events sent (or that would have been, with no webhook URL), oldest first.
    events: Vec<Value>,
    /// Minor units refunded so far, by payment id (for providers whose payment object does
    /// not carry the running total, like PayPal's capture).
    refunded: HashMap<String, i64>,
    /// What the provider keeps about an object without showing it in the object, by the
    /// object's id (a Checkout Session's `payment_intent_data`, used when it is paid).
    hidden: HashMap<String, Value>,
}

impl Objects {
    /// Stores `object` under its `id` (replacing an older version).
    pub(crate) fn put(&mut self, object: Value) {
        let id = object["id"].as_str().unwrap_or_default().to_owned();
        self.by_id.insert(id, object);
    }

    /// Stores a refund and notes it in order.
    pub(crate) fn put_refund(&mut self, refund: Value) {
        let id = refund["id"].as_str().unwrap_or_default().to_owned();
        self.refunds.push(id);
        self.put(refund);
    }

    /// Minor units refunded so far from payment `id`.
    pub(crate) fn refunded(&self, id: &str) -> i64 {
        self.refunded.get(id).copied().unwrap_or_default()
    }

    /// Adds a refund of `amount` to payment `id`; returns the new total.
    pub(crate) fn add_refunded(&mut self, id: &str, amount: i64) -> i64 {
        let total = self.refunded.entry(id.to_owned()).or_default();
        *total += amount;
        *total
    }

    /// Keeps `value` with object `id`, out of the object's JSON.
    pub(crate) fn put_hidden(&mut self, id: &str, value: Value) {
        self.hidden.insert(id.to_owned(), value);
    }

    /// What [`put_hidden`](Self::put_hidden) kept with object `id`.
    pub(crate) fn hidden(&self, id: &str) -> Option<&Value> {
        self.hidden.get(id)
    }

    /// Notes an event the provider emitted.
    pub(crate) fn push_event(&mut self, event: Value) {
        self.events.push(event);
    }

    /// The object `id`, if it exists.
    pub(crate) fn get(&self, id: &str) -> Option<&Value> {
        self.by_id.get(id)
    }

    /// The object `id` to change in place.
    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut Value> {
        self.by_id.get_mut(id)
    }
}

impl Ledger {
    /// Runs `f` on the objects under the lock.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Objects) -> R) -> R {
        f(&mut self.lock())
    }

    /// A copy of object `id`.
    pub(crate) fn get(&self, id: &str) -> Option<Value> {
        self.lock().get(id).cloned()
    }

    /// Every refund made, oldest first.
    pub(crate) fn refunds(&self) -> Vec<Value> {
        let objects = self.lock();
        let refunds = objects.refunds.iter();
        refunds.filter_map(|id| objects.get(id).cloned()).collect()
    }

    /// Every event emitted, oldest first.
    pub(crate) fn events(&self) -> Vec<Value> {
        self.lock().events.clone()
    }

    /// Objects stay usable after a panic elsewhere: every change replaces whole values.
    fn lock(&self) -> MutexGuard<'_, Objects> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
