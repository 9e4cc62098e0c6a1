//! Where a parked message stands in the workbench.

use serde::{Deserialize, Serialize};

/// The life of a dead letter: it is `parked` until someone replays it, replaces it with an
/// edited message (`resolved`), purges it, or retention archives it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterStatus {
    /// Waiting for an admin; the only status that can be replayed, purged or archived.
    #[default]
    Parked,
    /// Sent again to its work queue.
    Replayed,
    /// Replaced by an edited message (edit-and-replay); the original was never sent again.
    Resolved,
    /// Thrown away by an admin; the payload bytes are gone.
    Purged,
    /// Moved out of the way by age; deleted by retention later.
    Archived,
}

impl DeadLetterStatus {
    /// Every status.
    pub const ALL: [DeadLetterStatus; 5] = [
        DeadLetterStatus::Parked,
        DeadLetterStatus::Replayed,
        DeadLetterStatus::Resolved,
        DeadLetterStatus::Purged,
        DeadLetterStatus::Archived,
    ];

    /// The name stored in the database and used in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterStatus::Parked => "parked",
            DeadLetterStatus::Replayed => "replayed",
            DeadLetterStatus::Resolved => "resolved",
            DeadLetterStatus::Purged => "purged",
            DeadLetterStatus::Archived => "archived",
        }
    }
}

crate::text_enum::text_enum!(
    DeadLetterStatus,
    "dead-letter status",
    "parked, replayed, resolved, purged, archived"
);

#[cfg(test)]
mod tests {
    use super::DeadLetterStatus;

    #[test]
    fn names_round_trip_through_from_str_and_serde() {
        for status in DeadLetterStatus::ALL {
            assert_eq!(status.as_str().parse::<DeadLetterStatus>(), Ok(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(
                serde_json::from_str::<DeadLetterStatus>(&json).unwrap(),
                status
            );
        }
        let err = "Parked".parse::<DeadLetterStatus>().unwrap_err();
        assert!(err.to_string().contains("parked, replayed"), "{err}");
    }
}
