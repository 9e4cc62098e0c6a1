//! Push device tokens the provider reported gone (see the migration `invalid_push_tokens`).

use diesel::QueryableByName;
use diesel::sql_types::{Bool, Text};
use diesel_async::RunQueryDsl;

use crate::{Store, StoreError};

/// A device token a push provider said is no longer valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidPushToken {
    /// `android`, `ios` or `web`.
    pub platform: String,
    /// The device token.
    pub token: String,
    /// `fcm` or `apns`.
    pub provider: String,
    /// Why: `unregistered` or `bad_device_token`.
    pub reason: String,
    /// The message whose send found out.
    pub message_id: String,
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    invalid: bool,
}

// The first report wins: it holds the message that found out.
const RECORD: &str = "INSERT INTO invalid_push_tokens (platform, token, provider, reason, message_id) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (platform, token) DO NOTHING";

const IS_INVALID: &str = "SELECT EXISTS (SELECT 1 FROM invalid_push_tokens \
     WHERE platform = $1 AND token = $2) AS invalid";

impl Store {
    /// Records that `token` is gone; recording it again changes nothing.
    pub async fn record_invalid_push_token(
        &self,
        token: &InvalidPushToken,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::sql_query(RECORD)
            .bind::<Text, _>(&token.platform)
            .bind::<Text, _>(&token.token)
            .bind::<Text, _>(&token.provider)
            .bind::<Text, _>(&token.reason)
            .bind::<Text, _>(&token.message_id)
            .execute(&mut conn)
            .await?;
        Ok(())
    }

    /// Whether `token` of `platform` was recorded as gone.
    pub async fn is_push_token_invalid(
        &self,
        platform: &str,
        token: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let row: Exists = diesel::sql_query(IS_INVALID)
            .bind::<Text, _>(platform)
            .bind::<Text, _>(token)
            .get_result(&mut conn)
            .await?;
        Ok(row.invalid)
    }
}
