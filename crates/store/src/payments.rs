//! Payments as provider events describe them (see the migration `payments`): applied once per
//! provider event, moved forward only, with the ERP event each change causes recorded,
//! published (confirmed) and marked published inside one transaction.

use std::future::Future;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::{Store, StoreError};

/// Where a payment stands. Ordered by [`rank`](Self::rank): a payment never moves to a lower
/// rank, so an event that arrives late (a `succeeded` after the refund) changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Created, not settled.
    Pending,
    /// An attempt failed (a later attempt may still succeed).
    Failed,
    /// Paid.
    Succeeded,
    /// Paid, part of it refunded.
    PartiallyRefunded,
    /// Paid and refunded in full.
    Refunded,
}

impl PaymentStatus {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::PartiallyRefunded => "partially_refunded",
            PaymentStatus::Refunded => "refunded",
        }
    }

    /// Position in the only direction a payment moves. `failed` is below `succeeded` because a
    /// payment can fail and then succeed with another card, never the reverse.
    pub fn rank(self) -> u8 {
        match self {
            PaymentStatus::Pending => 0,
            PaymentStatus::Failed => 1,
            PaymentStatus::Succeeded => 2,
            PaymentStatus::PartiallyRefunded => 3,
            PaymentStatus::Refunded => 4,
        }
    }

    fn parse(text: &str) -> PaymentStatus {
        match text {
            "failed" => PaymentStatus::Failed,
            "succeeded" => PaymentStatus::Succeeded,
            "partially_refunded" => PaymentStatus::PartiallyRefunded,
            "refunded" => PaymentStatus::Refunded,
            _ => PaymentStatus::Pending,
        }
    }
}

/// What one provider event says about a payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentUpdate {
    /// `stripe`, `paypal`.
    pub provider: String,
    /// The payment's provider id (PaymentIntent, charge or PayPal capture).
    pub payment_id: String,
    /// Tenant of the webhook route.
    pub tenant: Option<String>,
    /// The status the event implies.
    pub status: PaymentStatus,
    /// The payment's amount in minor units, when the event names it.
    pub amount: Option<i64>,
    /// The total refunded so far in minor units, when the event names it.
    pub amount_refunded: Option<i64>,
    /// ISO 4217, upper case.
    pub currency: Option<String>,
    /// The event opened a dispute.
    pub disputed: bool,
    /// The ERP's reference (the checkout's `reference`), when the provider object carries it.
    pub reference: Option<String>,
}

/// A payment row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentState {
    /// Tenant.
    pub tenant: Option<String>,
    /// Status.
    pub status: PaymentStatus,
    /// Amount, minor units.
    pub amount: Option<i64>,
    /// Refunded so far, minor units.
    pub amount_refunded: i64,
    /// ISO 4217.
    pub currency: Option<String>,
    /// A dispute was opened.
    pub disputed: bool,
    /// The ERP's reference, once an event named it.
    pub reference: Option<String>,
}

impl PaymentState {
    /// `before` (if any) moved forward by `update`: the higher status, the larger refund, the
    /// first known amount, currency and reference; a refund reaching the amount makes it
    /// `refunded`. Events arrive out of order and not all name the reference (a PayPal refund,
    /// a dispute), so a later event without one never erases it.
    pub fn merge(before: Option<&PaymentState>, update: &PaymentUpdate) -> PaymentState {
        let mut status = update.status;
        if let Some(b) = before
            && b.status.rank() > status.rank()
        {
            status = b.status;
        }
        let amount = before.and_then(|b| b.amount).or(update.amount);
        let refunded = before
            .map(|b| b.amount_refunded)
            .unwrap_or(0)
            .max(update.amount_refunded.unwrap_or(0));
        if status == PaymentStatus::PartiallyRefunded && amount.is_some_and(|a| refunded >= a) {
            status = PaymentStatus::Refunded;
        }
        PaymentState {
            tenant: before
                .and_then(|b| b.tenant.clone())
                .or(update.tenant.clone()),
            status,
            amount,
            amount_refunded: refunded,
            currency: before
                .and_then(|b| b.currency.clone())
                .or(update.currency.clone()),
            disputed: before.is_some_and(|b| b.disputed) || update.disputed,
            reference: before
                .and_then(|b| b.reference.clone())
                .or(update.reference.clone()),
        }
    }

    /// Whether the ERP should hear of the move from `before` to `self`: a new status, more
    /// refunded, a dispute, or the reference learnt (a refund announced before the payment's
    /// own event brought the reference is announced again, now naming the fee). A late event
    /// that only fills in the amount is no news.
    pub fn is_news_after(&self, before: Option<&PaymentState>) -> bool {
        match before {
            None => true,
            Some(b) => {
                b.status != self.status
                    || b.amount_refunded != self.amount_refunded
                    || b.disputed != self.disputed
                    || (b.reference.is_none() && self.reference.is_some())
            }
        }
    }
}

/// An ERP event waiting in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingErpEvent {
    /// Message type (`erp.payment.succeeded`, …).
    pub erp_type: String,
    /// The envelope payload, JSON.
    pub payload: String,
}

/// What [`Store::apply_payment_event`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// First time this provider event was applied; its ERP event, if any, was published.
    Fresh(Option<PendingErpEvent>),
    /// Applied before; the ERP event published now, if an earlier attempt never confirmed it.
    Again(Option<PendingErpEvent>),
}

/// Why [`Store::apply_payment_event`] failed; nothing of the event was kept.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError<E> {
    /// Postgres failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The publish callback failed.
    #[error("publishing the ERP event failed")]
    Publish(E),
}

impl<E> From<diesel::result::Error> for ApplyError<E> {
    fn from(e: diesel::result::Error) -> Self {
        ApplyError::Store(e.into())
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Nullable<Text>)]
    tenant: Option<String>,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    amount: Option<i64>,
    #[diesel(sql_type = BigInt)]
    amount_refunded: i64,
    #[diesel(sql_type = Nullable<Text>)]
    currency: Option<String>,
    #[diesel(sql_type = Bool)]
    disputed: bool,
    #[diesel(sql_type = Nullable<Text>)]
    reference: Option<String>,
}

#[derive(QueryableByName)]
struct Outbox {
    #[diesel(sql_type = Nullable<Text>)]
    erp_type: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    erp_payload: Option<String>,
    #[diesel(sql_type = Bool)]
    published: bool,
}

// Locks the outbox row: a concurrent delivery of the same event waits here until the one
// holding it has published and committed (or rolled back).
const OUTBOX: &str = "SELECT erp_type, erp_payload, published_at IS NOT NULL AS published \
     FROM payment_events WHERE provider = $1 AND event_id = $2 FOR UPDATE";

const LOCK: &str = "SELECT tenant, status, amount, amount_refunded, currency, disputed, reference \
     FROM payments WHERE provider = $1 AND payment_id = $2 FOR UPDATE";

const UPSERT: &str = "INSERT INTO payments \
       (provider, payment_id, tenant, status, amount, amount_refunded, currency, disputed, \
        reference) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (provider, payment_id) DO UPDATE SET tenant = $3, status = $4, amount = $5, \
       amount_refunded = $6, currency = $7, disputed = $8, reference = $9, updated_at = now()";

// Waits for a concurrent insert of the same event to commit or roll back; 0 rows: it exists.
const CLAIM: &str = "INSERT INTO payment_events (provider, event_id) VALUES ($1, $2) \
     ON CONFLICT DO NOTHING";

const RECORD: &str = "UPDATE payment_events SET payment_id = $3, erp_type = $4, erp_payload = $5 \
     WHERE provider = $1 AND event_id = $2";

const PUBLISHED: &str =
    "UPDATE payment_events SET published_at = now() WHERE provider = $1 AND event_id = $2";

/// Turns the move from `before` to `after` (None for an event about no payment, such as a
/// subscription) into the ERP event to publish, if any.
pub type ErpEventOf<'a> = Box<
    dyn FnOnce(Option<&PaymentState>, Option<&PaymentState>) -> Option<PendingErpEvent> + Send + 'a,
>;

impl Store {
    /// Applies provider event `event_id` once, in one transaction: moves its payment forward
    /// (when `update` names one), records the ERP event `erp_of` derives from the move, calls
    /// `publish` with it (which must wait for the broker's confirm) and marks it published.
    /// A failed publish rolls everything back, so the retry starts afresh; a crash after the
    /// confirm and before the commit does too, and the retry publishes the same event again.
    /// A concurrent delivery of the same event waits for this one and then finds it applied.
    pub async fn apply_payment_event<P, Fut, E>(
        &self,
        provider: &str,
        event_id: &str,
        update: Option<&PaymentUpdate>,
        erp_of: ErpEventOf<'_>,
        publish: P,
    ) -> Result<Applied, ApplyError<E>>
    where
        P: FnOnce(PendingErpEvent) -> Fut + Send,
        Fut: Future<Output = Result<(), E>> + Send,
        E: Send,
    {
        let mut pooled = self.conn().await?;
        let conn: &mut AsyncPgConnection = &mut pooled;
        conn.transaction(async move |conn: &mut AsyncPgConnection| {
            let claimed = diesel::sql_query(CLAIM)
                .bind::<Text, _>(provider)
                .bind::<Text, _>(event_id)
                .execute(conn)
                .await?;
            if claimed == 0 {
                let Some(pending) = outbox(conn, provider, event_id).await? else {
                    return Ok(Applied::Again(None));
                };
                publish(pending.clone())
                    .await
                    .map_err(ApplyError::Publish)?;
                mark(conn, provider, event_id).await?;
                return Ok(Applied::Again(Some(pending)));
            }
            let (before, after) = match update {
                Some(u) => {
                    let before = lock(conn, u).await?;
                    let after = PaymentState::merge(before.as_ref(), u);
                    upsert(conn, u, &after).await?;
                    (before, Some(after))
                }
                None => (None, None),
            };
            let erp = erp_of(before.as_ref(), after.as_ref());
            diesel::sql_query(RECORD)
                .bind::<Text, _>(provider)
                .bind::<Text, _>(event_id)
                .bind::<Nullable<Text>, _>(update.map(|u| u.payment_id.as_str()))
                .bind::<Nullable<Text>, _>(erp.as_ref().map(|e| e.erp_type.as_str()))
                .bind::<Nullable<Text>, _>(erp.as_ref().map(|e| e.payload.as_str()))
                .execute(conn)
                .await?;
            if let Some(pending) = &erp {
                publish(pending.clone())
                    .await
                    .map_err(ApplyError::Publish)?;
                mark(conn, provider, event_id).await?;
            }
            Ok(Applied::Fresh(erp))
        })
        .await
    }

    /// The payment row, if any.
    pub async fn payment(
        &self,
        provider: &str,
        payment_id: &str,
    ) -> Result<Option<PaymentState>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = diesel::sql_query(LOCK.replace(" FOR UPDATE", ""))
            .bind::<Text, _>(provider)
            .bind::<Text, _>(payment_id)
            .load(&mut conn)
            .await?;
        Ok(rows.into_iter().next().map(Row::into_state))
    }
}

async fn mark(
    conn: &mut AsyncPgConnection,
    provider: &str,
    event_id: &str,
) -> Result<(), StoreError> {
    diesel::sql_query(PUBLISHED)
        .bind::<Text, _>(provider)
        .bind::<Text, _>(event_id)
        .execute(conn)
        .await?;
    Ok(())
}

impl Row {
    fn into_state(self) -> PaymentState {
        PaymentState {
            tenant: self.tenant,
            status: PaymentStatus::parse(&self.status),
            amount: self.amount,
            amount_refunded: self.amount_refunded,
            currency: self.currency,
            disputed: self.disputed,
            reference: self.reference,
        }
    }
}

/// The event's ERP event if it was never published (locked until the transaction ends).
async fn outbox(
    conn: &mut AsyncPgConnection,
    provider: &str,
    event_id: &str,
) -> Result<Option<PendingErpEvent>, StoreError> {
    let rows: Vec<Outbox> = diesel::sql_query(OUTBOX)
        .bind::<Text, _>(provider)
        .bind::<Text, _>(event_id)
        .load(conn)
        .await?;
    Ok(rows.into_iter().next().and_then(|row| match row {
        Outbox {
            erp_type: Some(erp_type),
            erp_payload: Some(payload),
            published: false,
        } => Some(PendingErpEvent { erp_type, payload }),
        _ => None,
    }))
}

async fn lock(
    conn: &mut AsyncPgConnection,
    u: &PaymentUpdate,
) -> Result<Option<PaymentState>, StoreError> {
    // Create the row first (if absent) so two first events of one payment serialise on it.
    diesel::sql_query(
        "INSERT INTO payments (provider, payment_id, status) VALUES ($1, $2, 'pending') \
         ON CONFLICT DO NOTHING",
    )
    .bind::<Text, _>(&u.provider)
    .bind::<Text, _>(&u.payment_id)
    .execute(conn)
    .await?;
    let rows: Vec<Row> = diesel::sql_query(LOCK)
        .bind::<Text, _>(&u.provider)
        .bind::<Text, _>(&u.payment_id)
        .load(conn)
        .await?;
    let row = rows.into_iter().next().map(Row::into_state);
    // A row we just created (still pending, nothing known) counts as no payment yet.
    Ok(row.filter(|r| r.status != PaymentStatus::Pending || r.amount.is_some()))
}

async fn upsert(
    conn: &mut AsyncPgConnection,
    u: &PaymentUpdate,
    s: &PaymentState,
) -> Result<(), StoreError> {
    diesel::sql_query(UPSERT)
        .bind::<Text, _>(&u.provider)
        .bind::<Text, _>(&u.payment_id)
        .bind::<Nullable<Text>, _>(s.tenant.as_deref())
        .bind::<Text, _>(s.status.as_str())
        .bind::<Nullable<BigInt>, _>(s.amount)
        .bind::<BigInt, _>(s.amount_refunded)
        .bind::<Nullable<Text>, _>(s.currency.as_deref())
        .bind::<Bool, _>(s.disputed)
        .bind::<Nullable<Text>, _>(s.reference.as_deref())
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(status: PaymentStatus, refunded: Option<i64>) -> PaymentUpdate {
        PaymentUpdate {
            provider: "stripe".into(),
            payment_id: "pi_1".into(),
            tenant: None,
            status,
            amount: Some(2000),
            amount_refunded: refunded,
            currency: Some("USD".into()),
            disputed: false,
            reference: None,
        }
    }

    #[test]
    fn a_late_success_does_not_undo_a_refund() {
        let refunded = PaymentState::merge(None, &update(PaymentStatus::Refunded, Some(2000)));
        let after = PaymentState::merge(Some(&refunded), &update(PaymentStatus::Succeeded, None));
        assert_eq!(after.status, PaymentStatus::Refunded);
        assert_eq!(after.amount_refunded, 2000);
        assert!(!after.is_news_after(Some(&refunded)));
    }

    #[test]
    fn partial_refunds_grow_until_the_amount_is_refunded() {
        let paid = PaymentState::merge(None, &update(PaymentStatus::Succeeded, None));
        let part = update(PaymentStatus::PartiallyRefunded, Some(500));
        let half = PaymentState::merge(Some(&paid), &part);
        assert_eq!(half.status, PaymentStatus::PartiallyRefunded);
        assert!(half.is_news_after(Some(&paid)));
        let all = update(PaymentStatus::PartiallyRefunded, Some(2000));
        assert_eq!(
            PaymentState::merge(Some(&half), &all).status,
            PaymentStatus::Refunded
        );
    }

    #[test]
    fn a_failure_after_success_is_ignored_and_a_success_after_failure_counts() {
        let failed = PaymentState::merge(None, &update(PaymentStatus::Failed, None));
        let paid = PaymentState::merge(Some(&failed), &update(PaymentStatus::Succeeded, None));
        assert_eq!(paid.status, PaymentStatus::Succeeded);
        let late = PaymentState::merge(Some(&paid), &update(PaymentStatus::Failed, None));
        assert_eq!(late.status, PaymentStatus::Succeeded);
    }

    #[test]
    fn the_first_reference_is_kept_whatever_comes_later() {
        let named = |status, refunded, reference: Option<&str>| PaymentUpdate {
            reference: reference.map(str::to_owned),
            ..update(status, refunded)
        };
        // A refund without the reference arrives first, as out-of-order delivery allows.
        let refunded = PaymentState::merge(None, &named(PaymentStatus::Refunded, Some(2000), None));
        assert_eq!(refunded.reference, None);
        // The payment's own event names it: kept, and news although the status is no higher.
        let paid = named(PaymentStatus::Succeeded, None, Some("fee-0042"));
        let known = PaymentState::merge(Some(&refunded), &paid);
        assert_eq!(known.reference.as_deref(), Some("fee-0042"));
        assert_eq!(known.status, PaymentStatus::Refunded);
        assert!(known.is_news_after(Some(&refunded)));
        // A later event without it (a dispute) or naming another keeps the first.
        let dispute = PaymentUpdate {
            disputed: true,
            ..named(PaymentStatus::Succeeded, None, None)
        };
        let disputed = PaymentState::merge(Some(&known), &dispute);
        assert_eq!(disputed.reference.as_deref(), Some("fee-0042"));
        let other = named(PaymentStatus::Succeeded, None, Some("fee-9999"));
        let again = PaymentState::merge(Some(&disputed), &other);
        assert_eq!(again.reference.as_deref(), Some("fee-0042"));
        assert!(!again.is_news_after(Some(&disputed)));
    }
}
