//! Primary and secondary relay. A message goes through the primary unless the primary is
//! marked down; when the relay it tried fails in a way that is the relay's fault (connection,
//! 4yz, refused credentials), it goes through the other one. Which relay took it is returned
//! and ends up in the provider reference (`primary:<queue id>` / `secondary:<queue id>`).
//!
//! A relay is marked down after `threshold` consecutive relay faults and stays down for
//! `cooldown`; then it gets one message again (success clears it, a fault marks it down
//! again). This is the worker's own, per-relay view; the runtime's breaker sees a failure
//! only when no relay could take the message.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use lettre::address::Envelope;

use crate::error::EmailError;
use crate::relay::{Relay, RelayRole};

/// When a relay is considered down.
#[derive(Clone, Copy, Debug)]
pub struct FailoverPolicy {
    /// Consecutive relay faults that mark a relay down.
    pub threshold: u32,
    /// How long a relay stays down before it is tried again.
    pub cooldown: Duration,
}

impl Default for FailoverPolicy {
    fn default() -> Self {
        FailoverPolicy {
            threshold: 3,
            cooldown: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Default)]
struct Health {
    consecutive_faults: u32,
    down_until: Option<Instant>,
}

/// A relay that took a message, and its reply.
#[derive(Debug)]
pub struct Accepted {
    /// Which relay.
    pub relay: RelayRole,
    /// The text of its 250 reply to the end of DATA (carries its queue id).
    pub reply: String,
}

/// The configured relays and their health.
#[derive(Debug)]
pub struct Relays {
    relays: Vec<(Relay, Mutex<Health>)>,
    policy: FailoverPolicy,
}

impl Relays {
    /// The primary alone, or with a secondary.
    pub fn new(primary: Relay, secondary: Option<Relay>, policy: FailoverPolicy) -> Self {
        let relays = std::iter::once(primary)
            .chain(secondary)
            .map(|r| (r, Mutex::default()))
            .collect();
        Relays { relays, policy }
    }

    /// Sends through the first healthy relay, failing over on relay faults. The error is the
    /// last relay's.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<Accepted, EmailError> {
        let mut last = None;
        for index in self.order(Instant::now()) {
            let (relay, _) = &self.relays[index];
            match relay.send(envelope, message).await {
                Ok(reply) => {
                    self.record(index, true);
                    return Ok(Accepted {
                        relay: relay.role(),
                        reply,
                    });
                }
                Err(error) => {
                    let error = EmailError::Smtp(error);
                    let relay_fault = error.is_relay_fault();
                    self.record(index, !relay_fault);
                    if !relay_fault {
                        // About the message (a 550 recipient), or possibly sent (no reply
                        // after DATA): another relay must not get it.
                        return Err(error);
                    }
                    tracing::warn!(relay = relay.role().as_str(), %error, "relay failed; trying the next one if any");
                    last = Some(error);
                }
            }
        }
        Err(last.unwrap_or(EmailError::NoRelay))
    }

    /// Healthy when any relay accepts a session.
    pub async fn probe(&self) -> Result<(), EmailError> {
        let mut last = None;
        for index in self.order(Instant::now()) {
            match self.relays[index].0.probe().await {
                Ok(()) => {
                    self.record(index, true);
                    return Ok(());
                }
                Err(error) => last = Some(EmailError::Smtp(error)),
            }
        }
        Err(last.unwrap_or(EmailError::NoRelay))
    }

    /// Relays to try, in order: those not down first (primary before secondary), then those
    /// down, so a message still gets a chance when every relay is marked down.
    fn order(&self, now: Instant) -> Vec<usize> {
        let down = |i: &usize| {
            let health = self.relays[*i]
                .1
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            health.down_until.is_some_and(|until| now < until)
        };
        let (mut up, down): (Vec<usize>, Vec<usize>) =
            (0..self.relays.len()).partition(|i| !down(i));
        up.extend(down);
        up
    }

    fn record(&self, index: usize, healthy: bool) {
        let (relay, health) = &self.relays[index];
        let mut health = health.lock().unwrap_or_else(PoisonError::into_inner);
        if healthy {
            *health = Health::default();
            return;
        }
        health.consecutive_faults += 1;
        if health.consecutive_faults >= self.policy.threshold {
            if health
                .down_until
                .is_none_or(|until| until <= Instant::now())
            {
                tracing::warn!(relay = relay.role().as_str(), cooldown = ?self.policy.cooldown, "relay marked down");
            }
            health.down_until = Some(Instant::now() + self.policy.cooldown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::{RelayConfig, TlsMode};

    fn relay(role: RelayRole) -> Relay {
        let config = RelayConfig {
            host: "127.0.0.1".into(),
            port: 9,
            tls: TlsMode::None,
            credentials: None,
        };
        Relay::new(role, config, "test.example", Duration::from_millis(200))
    }

    #[test]
    fn a_primary_marked_down_goes_last_until_its_cooldown_ends() {
        let policy = FailoverPolicy {
            threshold: 2,
            cooldown: Duration::from_secs(60),
        };
        let relays = Relays::new(
            relay(RelayRole::Primary),
            Some(relay(RelayRole::Secondary)),
            policy,
        );
        let now = Instant::now();
        assert_eq!(relays.order(now), vec![0, 1]);
        relays.record(0, false);
        assert_eq!(relays.order(now), vec![0, 1], "one fault is not an outage");
        relays.record(0, false);
        assert_eq!(relays.order(Instant::now()), vec![1, 0]);
        assert_eq!(
            relays.order(Instant::now() + Duration::from_secs(61)),
            vec![0, 1]
        );
        relays.record(0, true);
        assert_eq!(relays.order(Instant::now()), vec![0, 1]);
    }
}
