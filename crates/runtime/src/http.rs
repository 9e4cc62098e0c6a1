//! The one HTTP status → error class mapping every HTTP provider shares, and the client they
//! use. A worker's own classification starts from here and only adds what its provider says
//! beyond the status (Twilio's error codes, say).

use std::time::Duration;

use http::HeaderMap;
use switchyard_contract::Failure;

/// A client for provider APIs: connection pooling, a total request timeout, no redirects to
/// other hosts (a provider never needs them, and following them could leak credentials).
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the TLS backend initialises")
}

/// Class of an HTTP error status: 5xx and 408 retry, 429 waits for `Retry-After`, any other
/// 4xx is permanent (the request itself is wrong; sending it again cannot help).
pub fn classify_status(status: u16, retry_after: Option<Duration>) -> Failure {
    match status {
        429 => Failure::RateLimited {
            code: "provider_rate_limited",
            retry_after,
        },
        408 => Failure::Retryable {
            code: "provider_timeout",
            retry_after,
        },
        500..=599 => Failure::Retryable {
            code: "provider_unavailable",
            retry_after,
        },
        401 | 403 => Failure::Permanent {
            code: "provider_auth_failed",
        },
        _ => Failure::Permanent {
            code: "provider_rejected",
        },
    }
}

/// Class of a request that got no response. A connection that never opened is safe to retry;
/// a timeout after the request was sent is a plain retry only when the call is idempotent;
/// otherwise the provider may already have acted on it, and the retry must reconcile first.
pub fn classify_transport(error: &reqwest::Error, idempotent: bool) -> Failure {
    if error.is_connect() {
        Failure::Retryable {
            code: "provider_unreachable",
            retry_after: None,
        }
    } else if error.is_timeout() && !idempotent {
        Failure::OutcomeUnknown {
            code: "provider_timeout_outcome_unknown",
        }
    } else if error.is_timeout() {
        Failure::Retryable {
            code: "provider_timeout",
            retry_after: None,
        }
    } else if idempotent {
        Failure::Retryable {
            code: "provider_io_error",
            retry_after: None,
        }
    } else {
        Failure::OutcomeUnknown {
            code: "provider_io_error_outcome_unknown",
        }
    }
}

/// `Retry-After` as seconds (the form providers use for 429/503). An HTTP-date or garbage is
/// ignored and the runtime's own backoff applies.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_contract::ErrorClass;

    #[test]
    fn status_classes() {
        let cases = [
            (500, ErrorClass::Retryable),
            (503, ErrorClass::Retryable),
            (408, ErrorClass::Retryable),
            (429, ErrorClass::RateLimited),
            (400, ErrorClass::Permanent),
            (401, ErrorClass::Permanent),
            (404, ErrorClass::Permanent),
        ];
        for (status, class) in cases {
            assert_eq!(classify_status(status, None).class(), class, "{status}");
        }
        let limited = classify_status(429, Some(Duration::from_secs(7)));
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(7)));
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(http::header::RETRY_AFTER, "12".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(12)));
        h.insert(
            http::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[tokio::test]
    async fn refused_connection_is_retryable_even_when_not_idempotent() {
        let err = client(Duration::from_secs(2))
            .get("http://127.0.0.1:1/")
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            classify_transport(&err, false).code(),
            "provider_unreachable"
        );
    }

    #[tokio::test]
    async fn a_timeout_after_sending_is_an_unknown_outcome_unless_idempotent() {
        // A server that accepts the request and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let err = client(Duration::from_millis(200))
            .post(format!("http://{addr}/"))
            .body("x")
            .send()
            .await
            .unwrap_err();
        let not_idempotent = classify_transport(&err, false);
        assert!(not_idempotent.outcome_unknown());
        assert_eq!(not_idempotent.code(), "provider_timeout_outcome_unknown");
        let idempotent = classify_transport(&err, true);
        assert!(!idempotent.outcome_unknown());
        assert_eq!(idempotent.code(), "provider_timeout");
        silent.abort();
    }
}
