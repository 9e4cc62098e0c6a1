//! The `smtp` section of the sandbox faults (`PUT /_sandbox/faults`):
//!
//! ```json
//! {"smtp": {"rcpt_replies": [550], "listeners": ["primary"]}}
//! {"smtp": {"down": ["primary"]}}
//! ```

use serde::{Deserialize, Serialize};

use crate::faults::FaultError;

/// What the SMTP listeners do wrong on purpose. The default injects nothing.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpFaults {
    /// Replies (400..=599) to the next RCPT TO commands, one consumed per command: `[550]`
    /// refuses the next recipient, `[451, 451]` defers two.
    pub rcpt_replies: Vec<u16>,
    /// Replies (400..=599) to the next messages' end of DATA, one consumed per message; a
    /// message answered this way is not recorded (the relay did not take it).
    pub data_replies: Vec<u16>,
    /// Milliseconds to wait before answering the end of DATA (a slow relay).
    pub data_delay_ms: u64,
    /// For the next this many messages: record the message, then close the connection
    /// without answering the end of DATA (the client cannot know it was taken).
    pub drop_after_data: u32,
    /// Answer every AUTH with 535 (credentials refused).
    pub auth_fail: bool,
    /// Listeners (`primary`, `secondary`) that are down: they accept connections and close
    /// them at once, before the greeting.
    pub down: Vec<String>,
    /// Listeners the faults above apply to; empty means every listener.
    pub listeners: Vec<String>,
}

/// The names listeners go by.
pub(crate) const LISTENERS: [&str; 2] = ["primary", "secondary"];

impl SmtpFaults {
    /// Checks every field, naming the first wrong one.
    pub(crate) fn validate(&self) -> Result<(), FaultError> {
        let replies = [
            ("rcpt_replies", &self.rcpt_replies),
            ("data_replies", &self.data_replies),
        ];
        for (field, codes) in replies {
            for (i, code) in codes.iter().enumerate() {
                if !(400..=599).contains(code) {
                    return Err(FaultError {
                        field: format!("smtp.{field}[{i}]"),
                        reason: format!(
                            "must be an SMTP error reply between 400 and 599, got {code}"
                        ),
                    });
                }
            }
        }
        for (field, names) in [("down", &self.down), ("listeners", &self.listeners)] {
            if let Some(name) = names.iter().find(|n| !LISTENERS.contains(&n.as_str())) {
                return Err(FaultError {
                    field: format!("smtp.{field}"),
                    reason: format!("listeners are \"primary\" or \"secondary\", got {name:?}"),
                });
            }
        }
        Ok(())
    }

    /// Whether the faults (other than `down`) apply to `listener`.
    pub(crate) fn applies_to(&self, listener: &str) -> bool {
        self.listeners.is_empty() || self.listeners.iter().any(|l| l == listener)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_codes_and_listener_names_are_named() {
        let codes = SmtpFaults {
            rcpt_replies: vec![550, 250],
            ..SmtpFaults::default()
        };
        assert_eq!(codes.validate().unwrap_err().field, "smtp.rcpt_replies[1]");
        let names = SmtpFaults {
            down: vec!["tertiary".into()],
            ..SmtpFaults::default()
        };
        assert_eq!(names.validate().unwrap_err().field, "smtp.down");
        assert!(SmtpFaults::default().validate().is_ok());
    }
}
