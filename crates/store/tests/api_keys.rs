//! API keys: one-time tokens, stored hashed, scoped, revocable.

mod common;

use diesel::sql_types::{BigInt, Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use sha2::{Digest, Sha256};
use switchyard_store::{Role, StoreError};

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[tokio::test]
async fn a_created_key_authenticates_with_its_scopes() -> anyhow::Result<()> {
    let store = common::store().await;
    let name = common::unique("sis");
    let scopes = vec!["sms.".to_owned(), "email.send".to_owned()];
    let (created, token) = store
        .create_api_key(&name, Role::Publisher, &scopes)
        .await?;

    assert!(token.starts_with("sy_") && token.len() == 43, "{token}");
    assert!(token[3..].chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(created.prefix, token[3..11]);
    assert_eq!(
        (created.name.as_str(), created.role),
        (name.as_str(), Role::Publisher)
    );
    assert_eq!(created.scopes, scopes);
    assert_eq!(created.revoked_at, None);

    let key = store
        .authenticate(&token)
        .await?
        .expect("a fresh key authenticates");
    assert_eq!(key.id, created.id);
    assert!(key.allows("sms.send") && key.allows("email.send"));
    assert!(!key.allows("email.bulk") && !key.allows("payments.refund"));

    let again = store.authenticate(&token).await?.expect("still valid");
    assert!(again.last_used_at.is_some(), "use is recorded");
    let listed = store.list_api_keys().await?;
    assert!(listed.iter().any(|k| k.id == created.id && k.name == name));
    Ok(())
}

#[tokio::test]
async fn a_revoked_key_no_longer_authenticates() -> anyhow::Result<()> {
    let store = common::store().await;
    let (created, token) = store
        .create_api_key(&common::unique("ops"), Role::Admin, &[])
        .await?;
    assert!(
        store
            .authenticate(&token)
            .await?
            .is_some_and(|k| k.allows("anything.at_all"))
    );

    assert!(store.revoke_api_key(created.id).await?);
    assert_eq!(store.authenticate(&token).await?, None);
    assert!(!store.revoke_api_key(created.id).await?, "already revoked");
    assert!(
        !store.revoke_api_key(uuid::Uuid::new_v4()).await?,
        "no such key"
    );

    let listed = store.list_api_keys().await?;
    let revoked = listed
        .iter()
        .find(|k| k.id == created.id)
        .expect("still listed");
    assert!(revoked.revoked_at.is_some());
    Ok(())
}

#[tokio::test]
async fn unknown_and_malformed_tokens_are_rejected() -> anyhow::Result<()> {
    let store = common::store().await;
    let unknown = format!("sy_{}", "A".repeat(40));
    for token in ["", "sy_", "Bearer sy_x", "sy_short", unknown.as_str()] {
        assert_eq!(store.authenticate(token).await?, None, "{token:?}");
    }
    Ok(())
}

#[tokio::test]
async fn the_token_is_stored_only_as_a_hash() -> anyhow::Result<()> {
    let store = common::store().await;
    let (created, token) = store
        .create_api_key(&common::unique("sis"), Role::Publisher, &[])
        .await?;
    let secret = &token[3..];
    let mut conn = common::raw_connection().await;

    // Search the whole row, every column as text, for the secret part of the token.
    let leaked: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM api_keys k WHERE k::text LIKE '%' || $1 || '%'",
    )
    .bind::<Text, _>(secret)
    .get_result(&mut conn)
    .await?;
    assert_eq!(leaked.n, 0, "the token must not be stored in plain text");

    let hex: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let hashed: Count =
        diesel::sql_query("SELECT count(*) AS n FROM api_keys WHERE id = $1 AND token_sha256 = $2")
            .bind::<SqlUuid, _>(created.id)
            .bind::<Text, _>(&hex)
            .get_result(&mut conn)
            .await?;
    assert_eq!(hashed.n, 1, "the SHA-256 of the token is stored");
    Ok(())
}

#[tokio::test]
async fn nameless_keys_and_blank_scopes_are_refused() {
    let store = common::store().await;
    let err = store
        .create_api_key(" ", Role::Publisher, &[])
        .await
        .expect_err("no name");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let blank = vec![String::new()];
    let err = store
        .create_api_key("x", Role::Publisher, &blank)
        .await
        .expect_err("blank scope");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}
