//! `switchyard messages show ID`: a message's history from the delivery log, as an operator
//! reads it (or as the API's JSON with `--json`).

use switchyard_ingress::status::MessageStatus;
use switchyard_store::Store;

use crate::settings::Settings;

/// Prints the history of message `id`.
pub async fn show(settings: &Settings, id: &str, json: bool) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database_url, 2).await?;
    let Some(history) = store.message_history(id).await? else {
        anyhow::bail!(
            "nothing is recorded for message {id}: check the id (the `id` the ingress answered \
             with); a message just accepted appears once a worker has taken it from its queue"
        );
    };
    let status = MessageStatus::from_history(id.to_owned(), history);
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    print!("{}", render(&status));
    Ok(())
}

/// The human-readable form.
fn render(status: &MessageStatus) -> String {
    let mut out = format!(
        "message {}  type {}  tenant {}\n",
        status.id,
        status.message_type,
        status.tenant.as_deref().unwrap_or("-")
    );
    for d in &status.deliveries {
        out += &format!(
            "  {:<8} {:<11} provider ref {}  error {}  (updated {})\n",
            d.integration,
            d.status,
            d.provider_ref.as_deref().unwrap_or("-"),
            d.error_code.as_deref().unwrap_or("-"),
            d.updated_at.format("%Y-%m-%d %H:%M:%S%.3f")
        );
    }
    out += "history\n";
    for e in &status.history {
        out += &format!(
            "  {}  {:<8} {:<11}{}\n",
            e.at.format("%Y-%m-%d %H:%M:%S%.3f"),
            e.integration,
            e.status.as_str(),
            e.error_code
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default()
        );
    }
    out += "attempts\n";
    for a in &status.attempts {
        out += &format!(
            "  {}  #{:<3} {:<10} {:>6} ms{}\n",
            a.at.format("%Y-%m-%d %H:%M:%S%.3f"),
            a.attempt,
            a.outcome,
            a.duration_ms,
            match (&a.error_class, &a.error_code) {
                (Some(class), Some(code)) => format!("  {class} {code}"),
                _ => String::new(),
            }
        );
    }
    out
}
