//! Per-tenant email settings (`SWITCHYARD_EMAIL_TENANTS`, a TOML file), so each school sends
//! from its own address:
//!
//! ```toml
//! [tenants.lincoln-high]
//! from = "Lincoln High School <office@lincoln.example>"
//! reply_to = "registrar@lincoln.example"   # optional; a message's own reply_to wins
//! ```
//!
//! A tenant without an entry sends from `SWITCHYARD_SMTP_FROM`.

use std::collections::HashMap;
use std::path::Path;

use lettre::message::Mailbox;
use serde::Deserialize;

/// One tenant's settings.
#[derive(Clone, Debug)]
pub struct TenantEmail {
    /// `From`.
    pub from: Mailbox,
    /// Default `Reply-To`.
    pub reply_to: Option<Mailbox>,
}

/// As written in the file: `Name <address>` or a bare address.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    from: String,
    #[serde(default)]
    reply_to: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    tenants: HashMap<String, RawTenant>,
}

fn mailbox(tenant: &str, field: &str, value: &str) -> Result<Mailbox, String> {
    value.parse().map_err(|e| {
        format!("tenants.{tenant}.{field}: {e} (expected `Name <address>` or an address)")
    })
}

/// Why the tenant settings could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("email tenant settings {path}: {reason}")]
pub struct TenantsError {
    path: String,
    reason: String,
}

/// Settings by tenant id.
#[derive(Clone, Debug, Default)]
pub struct Tenants(HashMap<String, TenantEmail>);

impl Tenants {
    /// Reads and validates the file (addresses included), so a typo stops the start.
    pub fn load(path: &Path) -> Result<Self, TenantsError> {
        let fail = |reason: String| TenantsError {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        Self::parse(&text).map_err(fail)
    }

    /// Parses the TOML text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut tenants = HashMap::new();
        for (id, raw) in file.tenants {
            let settings = TenantEmail {
                from: mailbox(&id, "from", &raw.from)?,
                reply_to: raw
                    .reply_to
                    .map(|r| mailbox(&id, "reply_to", &r))
                    .transpose()?,
            };
            tenants.insert(id, settings);
        }
        Ok(Tenants(tenants))
    }

    /// The settings of `tenant`, if it has any.
    pub fn get(&self, tenant: Option<&str>) -> Option<&TenantEmail> {
        self.0.get(tenant?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_have_their_own_sender_and_typos_are_refused() {
        let tenants =
            Tenants::parse("[tenants.lincoln]\nfrom = \"Lincoln High <office@lincoln.example>\"\n")
                .unwrap();
        let lincoln = tenants.get(Some("lincoln")).unwrap();
        assert_eq!(lincoln.from.email.to_string(), "office@lincoln.example");
        assert!(tenants.get(Some("other")).is_none());
        assert!(tenants.get(None).is_none());
        assert!(Tenants::parse("[tenants.x]\nfrom = \"not an address\"\n").is_err());
        assert!(Tenants::parse("[tenants.x]\nfrm = \"a@b.example\"\n").is_err());
    }
}
