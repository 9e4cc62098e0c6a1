//! The emulated push credentials: the Firebase service account whose assertions the OAuth
//! endpoint accepts (and the access tokens it issued), and the APNs key provider tokens must
//! be signed with.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::config::{ApnsConfig, FcmConfig};
use crate::jws::Verifier;

#[derive(Deserialize)]
struct ServiceAccount {
    project_id: String,
    client_email: String,
    private_key: String,
}

/// What the FCM and APNs emulations check requests against.
#[derive(Debug)]
pub(crate) struct PushAccounts {
    /// The Firebase project `messages:send` accepts.
    pub(crate) project_id: String,
    /// The only issuer of accepted assertions.
    pub(crate) client_email: String,
    /// Checks assertions (RS256, the service account's key).
    pub(crate) assertions: Verifier,
    /// Lifetime of issued access tokens.
    pub(crate) token_ttl: Duration,
    /// The APNs emulation's settings.
    pub(crate) apns: ApnsConfig,
    /// Checks provider tokens (ES256, the `.p8` key).
    pub(crate) provider_tokens: Verifier,
    /// Issued access tokens and when each expires.
    issued: Mutex<HashMap<String, Instant>>,
}

impl PushAccounts {
    /// Reads the configured service account and APNs key.
    pub(crate) fn new(fcm: &FcmConfig, apns: &ApnsConfig) -> Result<Self, String> {
        let account: ServiceAccount = serde_json::from_str(&fcm.service_account_json)
            .map_err(|e| format!("the FCM service account is not service-account JSON: {e}"))?;
        let assertions = Verifier::rs256(&account.private_key)
            .map_err(|e| format!("the FCM service account's private_key: {e}"))?;
        let provider_tokens =
            Verifier::es256(&apns.key_pem).map_err(|e| format!("the APNs key: {e}"))?;
        Ok(Self {
            project_id: account.project_id,
            client_email: account.client_email,
            assertions,
            token_ttl: fcm.token_ttl,
            apns: apns.clone(),
            provider_tokens,
            issued: Mutex::default(),
        })
    }

    /// A new access token, valid for the configured lifetime.
    pub(crate) fn issue(&self) -> String {
        let token = format!("ya29.sandbox-{}", uuid::Uuid::new_v4().simple());
        self.lock()
            .insert(token.clone(), Instant::now() + self.token_ttl);
        token
    }

    /// Whether `token` was issued here and has not expired or been revoked.
    pub(crate) fn is_valid(&self, token: &str) -> bool {
        self.lock()
            .get(token)
            .is_some_and(|expires| Instant::now() < *expires)
    }

    /// Revokes every issued access token (clients then get 401 and must fetch a new one).
    pub(crate) fn revoke_all(&self) {
        self.lock().clear();
    }

    /// Every update is a single insert or clear, so a poisoned lock guards whole data.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Instant>> {
        self.issued.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
