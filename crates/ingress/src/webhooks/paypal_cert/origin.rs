//! Where a PayPal certificate may be fetched from. `PAYPAL-CERT-URL` arrives with the request,
//! so whoever sends the request chooses it: fetching it anywhere would let a forger sign with a
//! key of their own and point us at its certificate. Only https to a PayPal host is trusted —
//! TLS to that host is what vouches for the certificate — and plain http only to a loopback
//! address that the configuration lists explicitly (the provider sandbox, tests).

use std::net::IpAddr;

use reqwest::Url;

/// The hosts PayPal's certificate URLs use when `cert_hosts` is not configured: PayPal's own
/// SDK samples carry `https://api.sandbox.paypal.com/v1/notifications/certs/CERT-…` (and
/// `api.paypal.com` live); the `api-m.` names are PayPal's current API hosts for the same
/// service.
pub const PAYPAL_CERT_HOSTS: [&str; 4] = [
    "api.paypal.com",
    "api.sandbox.paypal.com",
    "api-m.paypal.com",
    "api-m.sandbox.paypal.com",
];

/// A scheme, host and port certificates may come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    /// A `cert_hosts` entry: a bare host (`api.paypal.com`: https on 443) or an origin
    /// (`http://127.0.0.1:4010`). Plain http is accepted only for a loopback host.
    pub fn parse(entry: &str) -> Result<Origin, String> {
        let text = if entry.contains("://") {
            entry.to_owned()
        } else {
            format!("https://{entry}")
        };
        let url = Url::parse(&text)
            .map_err(|e| format!("`cert_hosts` entry `{entry}` is not a host or origin: {e}"))?;
        let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
        let origin = Origin::of(&url).filter(|_| bare).ok_or_else(|| {
            format!(
                "`cert_hosts` entry `{entry}` must be a host or scheme://host[:port], nothing more"
            )
        })?;
        match origin.scheme.as_str() {
            "https" => Ok(origin),
            "http" if is_loopback(&url) => Ok(origin),
            _ => Err(format!(
                "`cert_hosts` entry `{entry}`: certificates are fetched over https; plain http \
                 only from a loopback address (127.0.0.1, ::1, localhost)"
            )),
        }
    }

    /// The origin of `url`; `None` when it carries credentials or no host.
    fn of(url: &Url) -> Option<Origin> {
        if !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        Some(Origin {
            scheme: url.scheme().to_owned(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default(),
        })
    }
}

/// The default allow-list, [`PAYPAL_CERT_HOSTS`] over https.
pub fn paypal_origins() -> Vec<Origin> {
    PAYPAL_CERT_HOSTS
        .iter()
        .map(|host| Origin::parse(host).expect("PayPal's hosts parse"))
        .collect()
}

/// `url` parsed, when its origin is one of `allowed`.
pub fn allowed(url: &str, allowed: &[Origin]) -> Option<Url> {
    let url = Url::parse(url).ok()?;
    let origin = Origin::of(&url)?;
    allowed.contains(&origin).then_some(url)
}

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = "/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77";

    #[test]
    fn paypal_hosts_over_https_only_on_the_default_port() {
        let paypal = paypal_origins();
        for host in PAYPAL_CERT_HOSTS {
            assert!(allowed(&format!("https://{host}{CERT}"), &paypal).is_some());
            assert!(allowed(&format!("https://{host}:443{CERT}"), &paypal).is_some());
            assert!(allowed(&format!("https://{host}:8443{CERT}"), &paypal).is_none());
            assert!(allowed(&format!("http://{host}{CERT}"), &paypal).is_none());
        }
        assert!(allowed(&format!("https://API.PayPal.com{CERT}"), &paypal).is_some());
    }

    #[test]
    fn look_alikes_credentials_and_garbage_are_refused() {
        let paypal = paypal_origins();
        for url in [
            format!("https://api.paypal.com.evil.example{CERT}"),
            format!("https://evil.example/api.paypal.com{CERT}"),
            format!("https://paypal.com{CERT}"),
            format!("https://www.paypal.com{CERT}"),
            format!("https://api.paypal.com@evil.example{CERT}"),
            format!("https://user@api.paypal.com{CERT}"),
            format!("ftp://api.paypal.com{CERT}"),
            "not a url".to_owned(),
            String::new(),
        ] {
            assert!(allowed(&url, &paypal).is_none(), "{url}");
        }
    }

    #[test]
    fn configured_entries_allow_http_only_for_loopback() {
        let local = [Origin::parse("http://127.0.0.1:4010").unwrap()];
        assert!(allowed(&format!("http://127.0.0.1:4010{CERT}"), &local).is_some());
        assert!(allowed(&format!("http://127.0.0.1:4011{CERT}"), &local).is_none());
        assert!(allowed(&format!("https://127.0.0.1:4010{CERT}"), &local).is_none());
        assert!(Origin::parse("http://localhost:80").is_ok());
        assert!(Origin::parse("http://[::1]:4010").is_ok());
        assert!(Origin::parse("http://10.0.0.1:4010").is_err());
        assert!(Origin::parse("http://paypal.internal").is_err());
        assert!(Origin::parse("https://certs.example:8443").is_ok());
        assert!(Origin::parse("api.paypal.com/v1").is_err());
        assert!(Origin::parse("https://api.paypal.com/?x").is_err());
        assert!(Origin::parse("user@api.paypal.com").is_err());
        assert!(Origin::parse("ftp://api.paypal.com").is_err());
    }
}
