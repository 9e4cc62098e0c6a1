//! The webhooks file (`SWITCHYARD_WEBHOOKS`, e.g. `webhooks.toml`): one `[[sources]]` entry per
//! sender and tenant. `POST /webhooks/<name>` takes the entry without `tenant`,
//! `POST /webhooks/<name>/<tenant>` the entry with that tenant (its own secrets). Loaded and
//! checked at start: a mistake stops the ingress with the entry's name, never a silent 401
//! later. Secrets are held as [`Secret`]s, which never print.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::paypal_cert::{self, certs, origin};
use super::shared::{ReplayWindow, Secret};
use super::verifier::Verifier;
use super::{graph, hmac, paypal, standard, stripe, zoom};

/// Why the webhooks file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unreadable file.
    #[error("cannot read the webhooks file {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// Not the expected TOML.
    #[error("the webhooks file {path} is invalid: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, with the line.
        reason: String,
    },
    /// An entry that cannot work.
    #[error("webhook source `{source_name}`: {reason}")]
    Source {
        /// `name` or `name/tenant`.
        source_name: String,
        /// What to fix.
        reason: String,
    },
}

/// The provider kind of a source.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `Stripe-Signature`.
    Stripe,
    /// PayPal, verified through PayPal's API or against its certificate (`verify`).
    Paypal,
    /// `x-zm-signature`.
    Zoom,
    /// Microsoft Graph `clientState`.
    Graph,
    /// GitHub-style `X-Hub-Signature-256`.
    Hmac,
    /// Standard Webhooks.
    Standard,
}

/// How a PayPal source is verified.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PayPalMode {
    /// Ask PayPal's verify-webhook-signature API (needs the REST app's credentials).
    #[default]
    Api,
    /// Check PayPal's SHA256withRSA signature against its certificate, offline.
    Certificate,
}

/// One `[[sources]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    /// The `<name>` path segment.
    name: String,
    /// The `<tenant>` path segment; also the published envelope's `tenant`.
    tenant: Option<String>,
    kind: Kind,
    /// Signing secrets, current first (Graph: the `clientState` values).
    #[serde(default)]
    secrets: Vec<String>,
    /// Replay window, seconds (Stripe, Zoom, Standard Webhooks, PayPal).
    tolerance_secs: Option<u64>,
    /// hmac: header names.
    signature_header: Option<String>,
    id_header: Option<String>,
    event_header: Option<String>,
    /// paypal: API base URL, REST app credentials and the webhook's id.
    api_base: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    webhook_id: Option<String>,
    /// paypal: `api` (default) or `certificate`.
    verify: Option<PayPalMode>,
    /// paypal certificate mode: hosts (https) or loopback origins (`http://127.0.0.1:4010`)
    /// certificates may be fetched from; default PayPal's.
    cert_hosts: Option<Vec<String>>,
    /// paypal certificate mode: accepted certificate common names; default PayPal's rule.
    cert_subjects: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    sources: Vec<Entry>,
}

/// A configured source.
#[derive(Debug)]
pub struct Source {
    /// The `<name>` path segment (also the dedupe scope, with the tenant).
    pub name: String,
    /// The tenant of the route, if any.
    pub tenant: Option<String>,
    /// How it is verified.
    pub verifier: Verifier,
}

impl Source {
    /// `name` or `name/tenant`: the duplicate check's scope and the payload's `source`.
    pub fn key(&self) -> String {
        match &self.tenant {
            Some(tenant) => format!("{}/{tenant}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Every configured source, by (name, tenant).
#[derive(Debug, Default)]
pub struct Sources {
    by_route: HashMap<(String, Option<String>), Source>,
}

impl Sources {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Sources, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        Self::parse(&text).map_err(|e| match e {
            ConfigError::Parse { reason, .. } => ConfigError::Parse {
                path: shown,
                reason,
            },
            other => other,
        })
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Sources, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: String::new(),
            reason: e.to_string(),
        })?;
        let mut sources = Sources::default();
        for entry in file.sources {
            let source = build(entry)?;
            let route = (source.name.clone(), source.tenant.clone());
            if sources.by_route.contains_key(&route) {
                return Err(invalid(&source.key(), "configured twice; keep one entry"));
            }
            sources.by_route.insert(route, source);
        }
        Ok(sources)
    }

    /// The source answering `/webhooks/<name>[/<tenant>]`.
    pub fn find(&self, name: &str, tenant: Option<&str>) -> Option<&Source> {
        self.by_route
            .get(&(name.to_owned(), tenant.map(str::to_owned)))
    }

    /// How many sources are configured.
    pub fn len(&self) -> usize {
        self.by_route.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_route.is_empty()
    }
}

fn invalid(source: &str, reason: &str) -> ConfigError {
    ConfigError::Source {
        source_name: source.to_owned(),
        reason: reason.to_owned(),
    }
}

fn is_segment(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn build(entry: Entry) -> Result<Source, ConfigError> {
    let key = match &entry.tenant {
        Some(t) => format!("{}/{t}", entry.name),
        None => entry.name.clone(),
    };
    if !is_segment(&entry.name) || !entry.tenant.as_deref().is_none_or(is_segment) {
        return Err(invalid(
            &key,
            "name and tenant are path segments: letters, digits, - and _",
        ));
    }
    if entry.name == "twilio" {
        return Err(invalid(
            &key,
            "`twilio` is the built-in status callback route; pick another name",
        ));
    }
    let verifier = verifier(&entry).map_err(|reason| invalid(&key, &reason))?;
    Ok(Source {
        name: entry.name,
        tenant: entry.tenant,
        verifier,
    })
}

fn verifier(entry: &Entry) -> Result<Verifier, String> {
    let window = ReplayWindow {
        tolerance_secs: entry
            .tolerance_secs
            .unwrap_or(super::shared::DEFAULT_TOLERANCE_SECS),
    };
    let secrets = || -> Result<Vec<Secret>, String> {
        if entry.secrets.iter().any(String::is_empty) || entry.secrets.is_empty() {
            return Err("needs `secrets = [\"…\"]` (non-empty; current first)".into());
        }
        Ok(entry
            .secrets
            .iter()
            .map(|s| Secret::new(s.as_bytes()))
            .collect())
    };
    Ok(match entry.kind {
        Kind::Stripe => Verifier::Stripe(stripe::Stripe {
            secrets: secrets()?,
            window,
        }),
        Kind::Zoom => Verifier::Zoom(zoom::Zoom {
            secrets: secrets()?,
            window,
        }),
        Kind::Graph => Verifier::Graph(graph::Graph {
            client_states: secrets()?,
        }),
        Kind::Standard => Verifier::Standard(standard::Standard {
            keys: secrets()?
                .iter()
                .map(|s| standard::decode_secret(&String::from_utf8_lossy(s.expose())))
                .collect::<Result<_, _>>()?,
            window,
        }),
        Kind::Hmac => Verifier::Hmac(hmac::HubSignature {
            secrets: secrets()?,
            signature_header: header_name(&entry.signature_header, "x-hub-signature-256"),
            id_header: header_name(&entry.id_header, "x-github-delivery"),
            event_header: header_name(&entry.event_header, "x-github-event"),
        }),
        Kind::Paypal => paypal_verifier(entry, window)?,
    })
}

/// Header names live as long as the process: leaked once at load, so verifiers can hold the
/// `&'static str` that [`super::verifier::Inbound::header`] takes.
fn header_name(configured: &Option<String>, default: &'static str) -> &'static str {
    configured.as_deref().map_or(default, |name| {
        Box::leak(name.to_ascii_lowercase().into_boxed_str())
    })
}

fn need(value: &Option<String>, what: &str) -> Result<String, String> {
    value
        .clone()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("a paypal source needs `{what}`"))
}

/// The first of `fields` that is set, as an error: it would be silently ignored in `mode`.
fn unused(fields: &[(&str, bool)], mode: &str) -> Result<(), String> {
    match fields.iter().find(|(_, set)| *set) {
        Some((name, _)) => Err(format!(
            "`{name}` is not used with verify = \"{mode}\"; remove it or change `verify`"
        )),
        None => Ok(()),
    }
}

/// PayPal's calls (token, verification, certificates) give up after this.
const PAYPAL_TIMEOUT: Duration = Duration::from_secs(5);

fn paypal_verifier(entry: &Entry, window: ReplayWindow) -> Result<Verifier, String> {
    let webhook_id = need(&entry.webhook_id, "webhook_id")?;
    match entry.verify.unwrap_or_default() {
        PayPalMode::Api => {
            unused(
                &[
                    ("cert_hosts", entry.cert_hosts.is_some()),
                    ("cert_subjects", entry.cert_subjects.is_some()),
                ],
                "api",
            )?;
            Ok(Verifier::PayPal(paypal_api(entry, webhook_id, window)?))
        }
        PayPalMode::Certificate => {
            unused(
                &[
                    ("api_base", entry.api_base.is_some()),
                    ("client_id", entry.client_id.is_some()),
                    ("client_secret", entry.client_secret.is_some()),
                ],
                "certificate",
            )?;
            Ok(Verifier::PayPalCert(paypal_cert::PayPalCert {
                webhook_id,
                window,
                certificates: certificates(entry)?,
            }))
        }
    }
}

fn paypal_api(
    entry: &Entry,
    webhook_id: String,
    window: ReplayWindow,
) -> Result<paypal::PayPal, String> {
    let http = reqwest::Client::builder()
        .timeout(PAYPAL_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    Ok(paypal::PayPal {
        api_base: entry
            .api_base
            .clone()
            .unwrap_or_else(|| paypal::SANDBOX_API.to_owned())
            .trim_end_matches('/')
            .to_owned(),
        client_id: need(&entry.client_id, "client_id")?,
        client_secret: Secret::new(need(&entry.client_secret, "client_secret")?),
        webhook_id,
        window,
        http,
        token: tokio::sync::Mutex::new(None),
    })
}

fn certificates(entry: &Entry) -> Result<certs::Certificates, String> {
    let origins = match &entry.cert_hosts {
        None => origin::paypal_origins(),
        Some(hosts) if hosts.is_empty() => {
            return Err(
                "`cert_hosts = []` would refuse every webhook; leave it out for \
                        PayPal's hosts"
                    .into(),
            );
        }
        Some(hosts) => hosts
            .iter()
            .map(|host| origin::Origin::parse(host))
            .collect::<Result<_, _>>()?,
    };
    let subjects = match &entry.cert_subjects {
        None => certs::Subjects::PayPal,
        Some(names) if names.is_empty() || names.iter().any(String::is_empty) => {
            return Err(
                "`cert_subjects` lists certificate common names; leave it out for \
                        PayPal's"
                    .into(),
            );
        }
        Some(names) => certs::Subjects::Exactly(names.clone()),
    };
    certs::Certificates::new(origins, subjects, PAYPAL_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../webhooks.example.toml");
        let sources = Sources::load(&path).expect("the example is valid");
        assert!(sources.find("stripe", None).is_some());
        assert!(sources.find("stripe", Some("lincoln-high")).is_some());
        assert!(sources.find("stripe", Some("other")).is_none());
        let paypal = |tenant| &sources.find("paypal", tenant).unwrap().verifier;
        assert!(matches!(paypal(None), Verifier::PayPal(_)));
        assert!(matches!(
            paypal(Some("lincoln-high")),
            Verifier::PayPalCert(_)
        ));
    }

    #[test]
    fn the_compose_stack_s_sources_load() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/webhooks.compose.toml");
        let sources = Sources::load(&path).expect("the compose sources are valid");
        assert!(sources.find("stripe", None).is_some());
        let paypal = &sources.find("paypal", None).unwrap().verifier;
        assert!(matches!(paypal, Verifier::PayPal(p) if p.api_base == "http://sandbox:8025"));
    }

    #[test]
    fn paypal_modes_take_only_their_own_keys() {
        let cert = "[[sources]]\nname = \"p\"\nkind = \"paypal\"\nverify = \"certificate\"\n";
        let api = "[[sources]]\nname = \"p\"\nkind = \"paypal\"\nclient_id = \"c\"\n\
                   client_secret = \"s\"\nwebhook_id = \"WH\"\n";
        let loopback = format!("{cert}webhook_id = \"WH\"\ncert_hosts = [\"http://[::1]:4010\"]\n");
        assert!(Sources::parse(&loopback).is_ok());
        let cases = [
            (cert.to_owned(), "webhook_id"),
            (
                format!("{cert}webhook_id = \"WH\"\ncert_hosts = [\"http://10.1.2.3\"]\n"),
                "loopback",
            ),
            (
                format!("{cert}webhook_id = \"WH\"\ncert_hosts = []\n"),
                "cert_hosts",
            ),
            (
                format!("{cert}webhook_id = \"WH\"\ncert_subjects = []\n"),
                "cert_subjects",
            ),
            (
                format!("{cert}webhook_id = \"WH\"\nclient_id = \"c\"\n"),
                "client_id",
            ),
            (
                format!("{api}cert_hosts = [\"api.paypal.com\"]\n"),
                "cert_hosts",
            ),
            (format!("{api}verify = \"offline\"\n"), "verify"),
        ];
        for (text, key) in cases {
            let error = Sources::parse(&text).unwrap_err().to_string();
            assert!(error.contains(key), "{key}: {error}");
        }
    }

    #[test]
    fn mistakes_name_the_source() {
        let cases = [
            ("[[sources]]\nname = \"s\"\nkind = \"stripe\"\n", "s"),
            (
                "[[sources]]\nname = \"a b\"\nkind = \"stripe\"\nsecrets = [\"x\"]\n",
                "a b",
            ),
            ("[[sources]]\nname = \"p\"\nkind = \"paypal\"\n", "p"),
            (
                "[[sources]]\nname = \"w\"\nkind = \"standard\"\nsecrets = [\"whsec_!\"]\n",
                "w",
            ),
        ];
        for (text, name) in cases {
            let error = Sources::parse(text).unwrap_err().to_string();
            assert!(error.contains(&format!("`{name}`")), "{error}");
        }
        let twice = "[[sources]]\nname = \"s\"\nkind = \"zoom\"\nsecrets = [\"x\"]\n".repeat(2);
        assert!(
            Sources::parse(&twice)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        let typo = "[[sources]]\nname = \"s\"\nkind = \"zoom\"\nsecret = [\"x\"]\n";
        assert!(
            Sources::parse(typo)
                .unwrap_err()
                .to_string()
                .contains("secret")
        );
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let text =
            "[[sources]]\nname = \"s\"\nkind = \"stripe\"\nsecrets = [\"whsec_topsecret\"]\n";
        let shown = format!("{:?}", Sources::parse(text).unwrap());
        assert!(!shown.contains("topsecret"), "{shown}");
    }
}
