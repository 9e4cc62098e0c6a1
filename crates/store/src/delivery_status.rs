//! The lifecycle of one delivery and the order its statuses may follow.

use serde::{Deserialize, Serialize};

/// Where a delivery stands. Statuses only move forward:
/// `accepted < queued < sent < {delivered, undelivered, failed, parked}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Ingress took the message and the broker confirmed it.
    Accepted,
    /// The provider accepted the request and will send it later.
    Queued,
    /// Handed to the provider (e.g. the SMS left Twilio).
    Sent,
    /// The provider confirmed delivery to the recipient.
    Delivered,
    /// The provider gave up delivering to the recipient.
    Undelivered,
    /// The provider rejected the message.
    Failed,
    /// Switchyard gave up and moved the message to the parking lot.
    Parked,
}

impl DeliveryStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [DeliveryStatus; 7] = [
        DeliveryStatus::Accepted,
        DeliveryStatus::Queued,
        DeliveryStatus::Sent,
        DeliveryStatus::Delivered,
        DeliveryStatus::Undelivered,
        DeliveryStatus::Failed,
        DeliveryStatus::Parked,
    ];

    /// The name stored in the database and used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Accepted => "accepted",
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Undelivered => "undelivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Parked => "parked",
        }
    }

    /// True when nothing more will happen to the delivery on its own.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Delivered
                | DeliveryStatus::Undelivered
                | DeliveryStatus::Failed
                | DeliveryStatus::Parked
        )
    }

    /// Position in the lifecycle. An update to a lower rank is ignored, so a late `sent`
    /// callback cannot undo `delivered`. `parked` ranks lowest: a message is parked before
    /// the provider ever took it, and a replay must be able to move it forward again
    /// (queued → sent → delivered); the provider's final statuses share the top rank.
    pub fn rank(self) -> u8 {
        match self {
            DeliveryStatus::Accepted | DeliveryStatus::Parked => 0,
            DeliveryStatus::Queued => 1,
            DeliveryStatus::Sent => 2,
            DeliveryStatus::Delivered | DeliveryStatus::Undelivered | DeliveryStatus::Failed => 3,
        }
    }

    /// SQL that evaluates to the rank of the status held by `expr`, so the "never backwards"
    /// rule is checked inside the UPDATE itself and concurrent updates cannot race past it.
    /// Built from [`DeliveryStatus::rank`] so the rule has one source.
    pub(crate) fn rank_sql(expr: &str) -> String {
        let arms: String = Self::ALL
            .iter()
            .map(|s| format!(" WHEN '{}' THEN {}", s.as_str(), s.rank()))
            .collect();
        format!("(CASE {expr}{arms} END)")
    }
}

crate::text_enum::text_enum!(
    DeliveryStatus,
    "delivery status",
    "accepted, queued, sent, delivered, undelivered, failed, parked"
);

#[cfg(test)]
mod tests {
    use super::DeliveryStatus;

    #[test]
    fn names_round_trip_through_from_str_and_serde() {
        for status in DeliveryStatus::ALL {
            assert_eq!(status.as_str().parse::<DeliveryStatus>(), Ok(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        assert!("Delivered".parse::<DeliveryStatus>().is_err());
    }

    #[test]
    fn only_the_last_four_are_final() {
        let finals: Vec<_> = DeliveryStatus::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(
            finals,
            [
                DeliveryStatus::Delivered,
                DeliveryStatus::Undelivered,
                DeliveryStatus::Failed,
                DeliveryStatus::Parked
            ]
        );
    }

    #[test]
    fn rank_sql_covers_every_status() {
        let sql = DeliveryStatus::rank_sql("status");
        assert!(sql.starts_with("(CASE status WHEN 'accepted' THEN 0"));
        assert!(sql.contains("WHEN 'parked' THEN 0"));
    }
}
