//! PayPal's REST API (`https://api-m.paypal.com`): JSON requests with an OAuth2 token from the
//! client-credentials grant (cached until a minute before it expires, fetched again once on a
//! 401), and a `PayPal-Request-Id` on every POST so a retry gets PayPal's stored answer
//! instead of a second order, refund or subscription.

use std::time::{Duration, Instant};

use reqwest::RequestBuilder;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::{Created, reply};
use crate::PaymentsError;
use crate::job::{
    CheckoutCommand, RefundCommand, SubscriptionCancelCommand, SubscriptionCreateCommand,
};
use crate::money;

const PROVIDER: &str = "paypal";

/// Where PayPal is and the app's credentials.
#[derive(Clone)]
pub struct PaypalConfig {
    /// `https://api-m.paypal.com` in production, `https://api-m.sandbox.paypal.com` for
    /// PayPal's sandbox; the provider sandbox's URL in tests.
    pub base_url: String,
    /// The REST app's client id.
    pub client_id: String,
    /// The REST app's secret.
    pub client_secret: String,
}

// By hand: the secret must never reach a log.
impl std::fmt::Debug for PaypalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaypalConfig")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// A PayPal API client.
pub struct PaypalApi {
    config: PaypalConfig,
    http: reqwest::Client,
    token: Mutex<Option<(String, Instant)>>,
}

impl PaypalApi {
    /// A client on `http` (the runtime's provider client, with its timeout).
    pub fn new(config: PaypalConfig, http: reqwest::Client) -> Self {
        Self {
            config,
            http,
            token: Mutex::new(None),
        }
    }

    /// An order to capture `amount`; the payer approves it at the `payer-action` link.
    pub async fn checkout(
        &self,
        command: &CheckoutCommand,
        key: &str,
    ) -> Result<Created, PaymentsError> {
        let body = json!({
            "intent": "CAPTURE",
            "purchase_units": [{
                "reference_id": command.reference,
                "custom_id": command.reference,
                "description": command.description,
                "amount": amount(command.amount, &command.currency, "amount")?,
            }],
            "payment_source": { "paypal": { "experience_context": {
                "return_url": command.success_url,
                "cancel_url": command.cancel_url,
                "user_action": "PAY_NOW",
            }}},
        });
        let order = self.post("/v2/checkout/orders", &body, key).await?;
        created(&order)
    }

    /// A refund of a capture: `amount`, or everything left when absent.
    pub async fn refund(
        &self,
        command: &RefundCommand,
        key: &str,
    ) -> Result<Created, PaymentsError> {
        let mut body = json!({});
        if let Some(minor) = command.amount {
            let currency = command.currency.as_deref().ok_or(PaymentsError::Invalid {
                field: "currency",
                reason: "a partial PayPal refund needs the currency of `amount`".into(),
            })?;
            body["amount"] = amount(minor, currency, "amount")?;
        }
        if let Some(reason) = &command.reason {
            body["note_to_payer"] = json!(reason);
        }
        let path = format!(
            "/v2/payments/captures/{}/refund",
            super::segment(&command.payment_id)
        );
        let refund = self.post(&path, &body, key).await?;
        created(&refund)
    }

    /// A subscription to a plan; the payer approves it at the `approve` link.
    pub async fn subscribe(
        &self,
        command: &SubscriptionCreateCommand,
        key: &str,
    ) -> Result<Created, PaymentsError> {
        let mut body = json!({ "plan_id": command.plan, "custom_id": command.reference });
        if let (Some(return_url), Some(cancel_url)) = (&command.return_url, &command.cancel_url) {
            body["application_context"] =
                json!({ "return_url": return_url, "cancel_url": cancel_url });
        }
        let subscription = self.post("/v1/billing/subscriptions", &body, key).await?;
        created(&subscription)
    }

    /// Cancels a subscription (PayPal answers 204).
    pub async fn cancel(
        &self,
        command: &SubscriptionCancelCommand,
        key: &str,
    ) -> Result<Created, PaymentsError> {
        let reason = command
            .reason
            .as_deref()
            .unwrap_or("Cancelled by the school");
        let path = format!(
            "/v1/billing/subscriptions/{}/cancel",
            super::segment(&command.subscription_id)
        );
        self.post(&path, &json!({ "reason": reason }), key).await?;
        Ok(Created {
            id: command.subscription_id.clone(),
            status: "CANCELLED".into(),
            url: None,
        })
    }

    /// See [`super::probe`].
    pub(super) async fn probe(&self) -> Result<(), PaymentsError> {
        super::probe(PROVIDER, &self.http, &self.config.base_url).await
    }

    /// POSTs `body` with the request id; a 401 fetches a new token and tries once more (a
    /// token can be revoked before its stated expiry).
    async fn post(&self, path: &str, body: &Value, key: &str) -> Result<Value, PaymentsError> {
        let url = format!("{}{path}", self.config.base_url.trim_end_matches('/'));
        let request = |token: &str| -> RequestBuilder {
            self.http
                .post(&url)
                .bearer_auth(token)
                .header("PayPal-Request-Id", key)
                .header("Prefer", "return=representation")
                .json(body)
        };
        let token = self.token().await?;
        match reply(PROVIDER, request(&token), error_code).await {
            Err(PaymentsError::Rejected { status: 401, .. }) => {
                *self.token.lock().await = None;
                let token = self.token().await?;
                Ok(reply(PROVIDER, request(&token), error_code)
                    .await?
                    .unwrap_or_default())
            }
            other => Ok(other?.unwrap_or_default()),
        }
    }

    /// The cached access token, or a fresh one from the client-credentials grant.
    async fn token(&self) -> Result<String, PaymentsError> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let url = format!(
            "{}/v1/oauth2/token",
            self.config.base_url.trim_end_matches('/')
        );
        let request = self
            .http
            .post(url)
            .basic_auth(&self.config.client_id, Some(&self.config.client_secret))
            .form(&[("grant_type", "client_credentials")]);
        let grant = reply(PROVIDER, request, error_code)
            .await?
            .unwrap_or_default();
        let token = grant["access_token"]
            .as_str()
            .ok_or_else(|| PaymentsError::UnexpectedResponse {
                provider: PROVIDER,
                detail: "the token grant has no access_token".into(),
            })?
            .to_owned();
        let lifetime = Duration::from_secs(grant["expires_in"].as_u64().unwrap_or(0));
        let until = Instant::now() + lifetime.saturating_sub(Duration::from_secs(60));
        *cached = Some((token.clone(), until));
        Ok(token)
    }
}

/// PayPal's `{"currency_code", "value"}` for `minor` units of `currency`.
fn amount(minor: i64, currency: &str, field: &'static str) -> Result<Value, PaymentsError> {
    let currency = currency.to_uppercase();
    let value = money::to_decimal(minor, &currency).ok_or(PaymentsError::Invalid {
        field,
        reason: format!("{minor} is not an amount"),
    })?;
    Ok(json!({ "currency_code": currency, "value": value }))
}

/// An order, refund or subscription: its id, status and the link the payer follows.
fn created(object: &Value) -> Result<Created, PaymentsError> {
    let mut created = Created::from(PROVIDER, object, "/status", None)?;
    created.url = object["links"].as_array().and_then(|links| {
        links
            .iter()
            .find(|l| matches!(l["rel"].as_str(), Some("payer-action" | "approve")))
            .and_then(|l| l["href"].as_str())
            .map(str::to_owned)
    });
    Ok(created)
}

/// PayPal's error body: `{"name", "message", "details": [{"issue", "description"}]}` → the
/// first detail's issue (the specific one), else the name; OAuth errors say `error`.
fn error_code(body: &Value) -> (Option<String>, String) {
    let issue = body["details"][0]["issue"].as_str();
    let code = issue.or(body["name"].as_str()).or(body["error"].as_str());
    let message = body["details"][0]["description"]
        .as_str()
        .or(body["message"].as_str())
        .or(body["error_description"].as_str())
        .unwrap_or_default();
    (code.map(str::to_owned), message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specific_issue_is_the_code() {
        let body = json!({"name": "UNPROCESSABLE_ENTITY", "message": "The requested action could not be performed",
            "details": [{"issue": "REFUND_AMOUNT_EXCEEDED", "description": "The refund amount must be less than or equal to the capture amount"}]});
        let (code, message) = error_code(&body);
        assert_eq!(code.as_deref(), Some("REFUND_AMOUNT_EXCEEDED"));
        assert!(message.contains("less than or equal"));
        let oauth =
            json!({"error": "invalid_client", "error_description": "Client Authentication failed"});
        assert_eq!(error_code(&oauth).0.as_deref(), Some("invalid_client"));
    }

    #[test]
    fn amounts_are_exact_decimals() {
        assert_eq!(
            amount(1050, "eur", "amount").unwrap(),
            json!({"currency_code": "EUR", "value": "10.50"})
        );
        assert_eq!(amount(1500, "JPY", "amount").unwrap()["value"], "1500");
        assert!(amount(-5, "USD", "amount").is_err());
    }

    #[test]
    fn the_payer_link_is_found() {
        let order = json!({"id": "5O190127TN364715T", "status": "PAYER_ACTION_REQUIRED", "links": [
            {"href": "https://api-m.paypal.com/v2/checkout/orders/5O1", "rel": "self", "method": "GET"},
            {"href": "https://www.paypal.com/checkoutnow?token=5O1", "rel": "payer-action", "method": "GET"}]});
        let created = created(&order).unwrap();
        assert_eq!(
            created.url.as_deref(),
            Some("https://www.paypal.com/checkoutnow?token=5O1")
        );
        assert_eq!(created.status, "PAYER_ACTION_REQUIRED");
    }
}
