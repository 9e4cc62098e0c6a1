//! Stripe's REST API (`https://api.stripe.com`): form-encoded requests with Stripe's bracket
//! notation, Bearer secret key, and an `Idempotency-Key` on every POST so a retry — after a
//! timeout, a crash, a lost confirm — gets Stripe's stored answer instead of a second charge or
//! refund. DELETE needs none: Stripe treats it as idempotent by definition.

use reqwest::{Method, RequestBuilder};
use serde_json::Value;

use super::{Created, reply};
use crate::PaymentsError;
use crate::job::{
    CheckoutCommand, RefundCommand, SubscriptionCancelCommand, SubscriptionCreateCommand,
};

const PROVIDER: &str = "stripe";

/// Where Stripe is and the key to it.
#[derive(Clone)]
pub struct StripeConfig {
    /// `https://api.stripe.com` in production; the sandbox's URL in tests.
    pub base_url: String,
    /// The secret key (`sk_live_…`, `sk_test_…`).
    pub secret_key: String,
}

// By hand: the secret key must never reach a log.
impl std::fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeConfig")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// A Stripe API client.
pub struct StripeApi {
    config: StripeConfig,
    http: reqwest::Client,
}

type Form = Vec<(String, String)>;

impl StripeApi {
    /// A client on `http` (the runtime's provider client, with its timeout).
    pub fn new(config: StripeConfig, http: reqwest::Client) -> Self {
        Self { config, http }
    }

    /// A Checkout Session for a one-off payment; the payer pays on Stripe's page at `url`.
    pub async fn checkout(
        &self,
        command: &CheckoutCommand,
        tenant: Option<&str>,
        key: &str,
    ) -> Result<Created, PaymentsError> {
        let mut form: Form = vec![
            pair("mode", "payment"),
            pair("line_items[0][quantity]", "1"),
            pair(
                "line_items[0][price_data][currency]",
                &command.currency.to_lowercase(),
            ),
            pair(
                "line_items[0][price_data][unit_amount]",
                &command.amount.to_string(),
            ),
            pair(
                "line_items[0][price_data][product_data][name]",
                &command.description,
            ),
            pair("success_url", &command.success_url),
            pair("cancel_url", &command.cancel_url),
            pair("client_reference_id", &command.reference),
        ];
        // The reference rides on the PaymentIntent too, so its events can be matched to the fee.
        form.extend(metadata("metadata", &command.reference, tenant));
        form.extend(metadata(
            "payment_intent_data[metadata]",
            &command.reference,
            tenant,
        ));
        if let Some(email) = &command.customer_email {
            form.push(pair("customer_email", email));
        }
        let session = self.post("/v1/checkout/sessions", &form, key).await?;
        Created::from(PROVIDER, &session, "/status", Some("/url"))
    }

    /// A refund of a PaymentIntent: `amount` minor units, or everything left when absent.
    pub async fn refund(
        &self,
        command: &RefundCommand,
        key: &str,
    ) -> Result<Created, PaymentsError> {
        let mut form: Form = vec![pair("payment_intent", &command.payment_id)];
        if let Some(amount) = command.amount {
            form.push(pair("amount", &amount.to_string()));
        }
        if let Some(reason) = &command.reason {
            form.push(pair("reason", reason));
        }
        let refund = self.post("/v1/refunds", &form, key).await?;
        Created::from(PROVIDER, &refund, "/status", None)
    }

    /// A subscription of an existing customer to a price.
    pub async fn subscribe(
        &self,
        command: &SubscriptionCreateCommand,
        tenant: Option<&str>,
        key: &str,
    ) -> Result<Created, PaymentsError> {
        let customer = command.customer.as_deref().ok_or(PaymentsError::Invalid {
            field: "customer",
            reason: "a Stripe subscription needs the Stripe customer id (`cus_…`)".into(),
        })?;
        let mut form: Form = vec![
            pair("customer", customer),
            pair("items[0][price]", &command.plan),
        ];
        form.extend(metadata("metadata", &command.reference, tenant));
        let subscription = self.post("/v1/subscriptions", &form, key).await?;
        Created::from(PROVIDER, &subscription, "/status", None)
    }

    /// Cancels a subscription now.
    pub async fn cancel(
        &self,
        command: &SubscriptionCancelCommand,
    ) -> Result<Created, PaymentsError> {
        let path = format!(
            "/v1/subscriptions/{}",
            super::segment(&command.subscription_id)
        );
        let request = self.request(Method::DELETE, &path);
        let subscription = reply(PROVIDER, request, error_code).await?;
        Created::from(PROVIDER, &subscription.unwrap_or_default(), "/status", None)
    }

    /// See [`super::probe`].
    pub(super) async fn probe(&self) -> Result<(), PaymentsError> {
        super::probe(PROVIDER, &self.http, &self.config.base_url).await
    }

    async fn post(&self, path: &str, form: &Form, key: &str) -> Result<Value, PaymentsError> {
        let request = self
            .request(Method::POST, path)
            .header("Idempotency-Key", key)
            .form(form);
        Ok(reply(PROVIDER, request, error_code)
            .await?
            .unwrap_or_default())
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = format!("{}{path}", self.config.base_url.trim_end_matches('/'));
        self.http
            .request(method, url)
            .bearer_auth(&self.config.secret_key)
    }
}

/// Stripe's error body: `{"error": {"type", "code"?, "param"?, "message"}}` → its `code`, or
/// its `type` when it has none (an idempotency error has only a type).
fn error_code(body: &Value) -> (Option<String>, String) {
    let error = &body["error"];
    let code = error["code"].as_str().or(error["type"].as_str());
    let mut message = error["message"].as_str().unwrap_or_default().to_owned();
    if let Some(param) = error["param"].as_str() {
        message = format!("{message} (param `{param}`)");
    }
    (code.map(str::to_owned), message)
}

fn pair(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

/// `reference` and `tenant` as Stripe metadata under `prefix`.
fn metadata(prefix: &str, reference: &str, tenant: Option<&str>) -> Form {
    let mut form = vec![pair(&format!("{prefix}[reference]"), reference)];
    if let Some(tenant) = tenant {
        form.push(pair(&format!("{prefix}[tenant]"), tenant));
    }
    form
}
