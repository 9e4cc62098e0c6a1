//! The subcommands other than `run`.

use anyhow::Context;
use switchyard_broker::{Broker, QueuesConfig, Topology};
use switchyard_store::{Role, Store};
use switchyard_telemetry::Metrics;

use crate::cli::{KeysAction, TopologyAction};
use crate::settings::Settings;

/// `switchyard migrate`.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database_url, 2).await?;
    let applied = store.migrate().await?;
    if applied.is_empty() {
        println!("database is up to date");
    }
    for name in applied {
        println!("applied {name}");
    }
    Ok(())
}

/// `switchyard topology apply|show`.
pub async fn topology(settings: &Settings, action: &TopologyAction) -> anyhow::Result<()> {
    let topology = Topology::new(QueuesConfig::load(&settings.queues)?);
    match action {
        TopologyAction::Show => print!("{}", topology.describe()),
        TopologyAction::Apply => {
            let broker = Broker::connect(
                &settings.amqp_url,
                topology.clone(),
                "switchyard-topology",
                Metrics::new(),
            )
            .await?;
            println!("declared {} queues:", topology.all_queues().len());
            for queue in topology.all_queues() {
                println!("  {queue}");
            }
            broker.close().await;
        }
    }
    Ok(())
}

/// `switchyard keys create|list|revoke`.
pub async fn keys(settings: &Settings, action: &KeysAction) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database_url, 2).await?;
    store.migrate().await?;
    match action {
        KeysAction::Create { name, role, scopes } => {
            let role: Role = role
                .parse()
                .map_err(|e| anyhow::anyhow!("--role: {e}; use `publisher` or `admin`"))?;
            let (key, token) = store.create_api_key(name, role, scopes).await?;
            println!(
                "created key {} ({}, {}, scopes: {})",
                key.id,
                key.name,
                key.role,
                key.scopes.join(" ")
            );
            println!("token (shown once, store it now): {token}");
        }
        KeysAction::List => {
            let keys = store.list_api_keys().await?;
            if keys.is_empty() {
                println!(
                    "no keys; create one with `switchyard keys create --name NAME --scope sms.`"
                );
            }
            for k in keys {
                let state = if k.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{}  {:<20} {:<9} {:<7} sy_{}…  scopes: {}",
                    k.id,
                    k.name,
                    k.role,
                    state,
                    k.prefix,
                    k.scopes.join(" ")
                );
            }
        }
        KeysAction::Revoke { id } => {
            let id = uuid::Uuid::parse_str(id)
                .context("the key id is a UUID, as shown by `switchyard keys list`")?;
            if store.revoke_api_key(id).await? {
                println!("revoked {id}");
            } else {
                anyhow::bail!("no active key {id}; see `switchyard keys list`");
            }
        }
    }
    Ok(())
}
