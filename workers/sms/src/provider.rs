//! Twilio's REST API, called with reqwest: `POST /2010-04-01/Accounts/{sid}/Messages.json`
//! (form-encoded, HTTP basic auth) to send, `GET /2010-04-01/Accounts/{sid}.json` as the
//! breaker's side-effect-free probe. The base URL is configuration, so the same code talks to
//! Twilio in production and to the provider sandbox in tests and demos.

use serde::Deserialize;
use switchyard_runtime::http;
use switchyard_telemetry::metrics::SmsEncodingLabel;
use switchyard_telemetry::{Metrics, mask};
use switchyard_templates::sms_segments;

use crate::SmsError;

/// Twilio connection settings.
#[derive(Clone, Debug)]
pub struct TwilioConfig {
    /// `https://api.twilio.com` in production; the sandbox's URL otherwise.
    pub base_url: String,
    /// Account SID (`AC…`).
    pub account_sid: String,
    /// Auth token (secret; never logged).
    pub auth_token: String,
}

/// What Twilio answered for a created message.
#[derive(Debug, Deserialize)]
pub struct MessageResource {
    /// Message SID (`SM…`).
    pub sid: String,
    /// Initial status, normally `queued` or `accepted`.
    pub status: String,
}

/// One outgoing message, as Twilio's form fields.
pub struct Outgoing<'a> {
    /// `To`.
    pub to: &'a str,
    /// `Body`.
    pub body: &'a str,
    /// `From`, or `MessagingServiceSid` when it starts with `MG`.
    pub sender: &'a str,
    /// `StatusCallback`.
    pub status_callback: Option<&'a str>,
}

/// A message as Twilio lists it.
#[derive(Debug, Deserialize)]
pub struct ListedMessage {
    /// Message SID.
    pub sid: String,
    /// Recipient.
    pub to: String,
    /// Text.
    pub body: String,
    /// Current status.
    pub status: String,
    /// RFC 2822 creation time.
    pub date_created: String,
}

#[derive(Deserialize)]
struct MessagePage {
    messages: Vec<ListedMessage>,
    next_page_uri: Option<String>,
}

/// Pages read at most when looking for an interrupted send (50 messages each).
const MAX_PAGES: usize = 20;

/// When Twilio created `m`, in Unix seconds (`i64::MIN` if unreadable).
fn created(m: &ListedMessage) -> i64 {
    chrono::DateTime::parse_from_rfc2822(&m.date_created).map_or(i64::MIN, |d| d.timestamp())
}

#[derive(Deserialize)]
struct TwilioErrorBody {
    code: Option<u32>,
    message: Option<String>,
}

/// A Twilio API client.
#[derive(Clone)]
pub struct Twilio {
    config: TwilioConfig,
    client: reqwest::Client,
    metrics: Metrics,
}

impl Twilio {
    /// A client using `client` (shared pool, timeouts) and counting requests in `metrics`.
    pub fn new(config: TwilioConfig, client: reqwest::Client, metrics: Metrics) -> Self {
        Self {
            config,
            client,
            metrics,
        }
    }

    fn url(&self, tail: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}{tail}",
            self.config.base_url.trim_end_matches('/'),
            self.config.account_sid
        )
    }

    /// Creates (sends) a message.
    pub async fn send(&self, message: &Outgoing<'_>) -> Result<MessageResource, SmsError> {
        let sender_field = if message.sender.starts_with("MG") {
            "MessagingServiceSid"
        } else {
            "From"
        };
        let mut form = vec![
            ("To", message.to),
            ("Body", message.body),
            (sender_field, message.sender),
        ];
        if let Some(callback) = message.status_callback {
            form.push(("StatusCallback", callback));
        }
        let request = self.client.post(self.url("/Messages.json")).form(&form);
        let response = self.call(request).await?;
        let created = response
            .json::<MessageResource>()
            .await
            .map_err(|e| SmsError::UnexpectedResponse(e.to_string()))?;
        self.count_segments(message.body);
        Ok(created)
    }

    /// Counts the parts Twilio bills for `body` (a UCS-2 character triples the cost of a
    /// long message, so operators watch this by encoding).
    fn count_segments(&self, body: &str) {
        let cost = sms_segments(body);
        let label = SmsEncodingLabel {
            encoding: cost.encoding.as_str().to_owned(),
        };
        self.metrics
            .sms_segments
            .get_or_create(&label)
            .inc_by(cost.segments as u64);
    }

    /// Messages to `to` created at or after `since` (whole seconds, as Twilio dates are),
    /// newest first: pages are followed until they reach older messages, at most
    /// [`MAX_PAGES`] of them.
    pub async fn sent_to_since(
        &self,
        to: &str,
        since: i64,
    ) -> Result<Vec<ListedMessage>, SmsError> {
        let mut found = Vec::new();
        let mut request = self
            .client
            .get(self.url("/Messages.json"))
            .query(&[("To", to), ("PageSize", "50")]);
        for _ in 0..MAX_PAGES {
            let page: MessagePage = self
                .call(request)
                .await?
                .json()
                .await
                .map_err(|e| SmsError::UnexpectedResponse(e.to_string()))?;
            let before = found.len();
            found.extend(page.messages.into_iter().filter(|m| created(m) >= since));
            let reached_older = found.len() - before < 50;
            match page.next_page_uri {
                Some(next) if !reached_older => {
                    request = self.client.get(format!(
                        "{}{next}",
                        self.config.base_url.trim_end_matches('/')
                    ));
                }
                _ => break,
            }
        }
        Ok(found)
    }

    /// Fetches the account: proves Twilio is up and the credentials work, sends nothing.
    pub async fn probe(&self) -> Result<(), SmsError> {
        self.call(self.client.get(self.url(".json")))
            .await
            .map(drop)
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, SmsError> {
        let request = request.basic_auth(&self.config.account_sid, Some(&self.config.auth_token));
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                self.metrics.provider_request("twilio", None);
                return Err(SmsError::Transport(e.without_url()));
            }
        };
        let status = response.status().as_u16();
        self.metrics.provider_request("twilio", Some(status));
        if response.status().is_success() {
            return Ok(response);
        }
        let retry_after = http::retry_after(response.headers());
        let body: Option<TwilioErrorBody> = response.json().await.ok();
        let (code, message) = body
            .map(|b| (b.code, b.message.unwrap_or_default()))
            .unwrap_or_default();
        Err(SmsError::Rejected {
            status,
            code,
            message: mask::phones_in(&message),
            retry_after,
        })
    }
}
