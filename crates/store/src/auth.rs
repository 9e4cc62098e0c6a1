//! Who may do what: roles and message-type scopes of an API key. No I/O here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May publish messages of the types its scopes allow.
    Publisher,
    /// May do everything, including the admin API (dead letters, keys).
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 2] = [Role::Publisher, Role::Admin];

    /// The name stored in the database and used in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Publisher => "publisher",
            Role::Admin => "admin",
        }
    }
}

crate::text_enum::text_enum!(Role, "role", "publisher, admin");

/// An API key as stored; the token itself is never stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// The key's id.
    pub id: Uuid,
    /// A human name ("sis-publisher").
    pub name: String,
    /// What the key may do.
    pub role: Role,
    /// Message-type scopes; see [`ApiKeyRecord::allows`].
    pub scopes: Vec<String>,
    /// The first 8 characters of the token after `sy_`, so people can tell keys apart.
    pub prefix: String,
    /// When the key was created.
    pub created_at: DateTime<Utc>,
    /// When the key was revoked; a revoked key authenticates nothing.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the key was last used (updated at most about once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKeyRecord {
    /// Whether the key may publish `message_type`. Admins may publish anything. A scope is
    /// `*` (everything), a prefix ending in `.` (`sms.` allows `sms.send`), or a type name,
    /// which allows that type and its dotted sub-types (`sms` allows `sms.send`, but
    /// `sms.send` does not allow `sms.send_bulk`).
    pub fn allows(&self, message_type: &str) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Publisher => self.scopes.iter().any(|s| scope_allows(s, message_type)),
        }
    }
}

fn scope_allows(scope: &str, message_type: &str) -> bool {
    if scope == "*" {
        return true;
    }
    // An empty scope would be a prefix of everything; it allows nothing instead.
    if scope.is_empty() {
        return false;
    }
    match message_type.strip_prefix(scope) {
        Some(rest) => rest.is_empty() || scope.ends_with('.') || rest.starts_with('.'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publisher(scopes: &[&str]) -> ApiKeyRecord {
        ApiKeyRecord {
            id: Uuid::nil(),
            name: "test".into(),
            role: Role::Publisher,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            prefix: "abcdefgh".into(),
            created_at: Utc::now(),
            revoked_at: None,
            last_used_at: None,
        }
    }

    #[test]
    fn a_dotted_prefix_allows_its_types_only() {
        let key = publisher(&["sms."]);
        assert!(key.allows("sms.send"));
        assert!(!key.allows("email.send"));
        assert!(!key.allows("smsx.send"));
    }

    #[test]
    fn a_type_name_allows_itself_and_dotted_sub_types() {
        let key = publisher(&["sms.send"]);
        assert!(key.allows("sms.send"));
        assert!(key.allows("sms.send.v2"));
        assert!(!key.allows("sms.send_bulk"));
        assert!(!key.allows("sms.status"));
        assert!(publisher(&["sms"]).allows("sms.send"));
    }

    #[test]
    fn star_allows_everything_and_empty_scopes_allow_nothing() {
        assert!(publisher(&["*"]).allows("payments.refund"));
        assert!(!publisher(&[""]).allows("sms.send"));
        assert!(!publisher(&[]).allows("sms.send"));
    }

    #[test]
    fn admins_may_publish_anything() {
        let key = ApiKeyRecord {
            role: Role::Admin,
            ..publisher(&[])
        };
        assert!(key.allows("payments.refund"));
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::Publisher, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{role}\""));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
