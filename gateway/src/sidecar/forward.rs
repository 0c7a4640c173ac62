//! Calls from the mesh to the neighbour: each unary call the sidecar's RPC server receives
//! for the neighbour's service becomes one HTTP POST to the program (go-micro's http proxy:
//! `Greeter.Hello` → `POST http://<server_address>/greeter/hello`; an endpoint that is a path,
//! `/x/y`, is used as it is).
//!
//! The request carries the body untouched, its `Content-Type`, go-micro's `Micro-Service`,
//! `Micro-Endpoint` and the call's metadata as HTTP headers. A 2xx answer's body is the reply;
//! any other status is a go-micro error — the body's own error JSON when it is one, else an
//! error with the status as its code and the body's text as its detail. A neighbour that does
//! not answer within the call's deadline (at most [`Forwarder::timeout`]) is a 408, and its
//! connection is dropped; the sidecar goes on serving.

use micro::transport::http_client::HttpClient;
use micro::{Error, Request, Response};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a forwarded call may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Forwards calls to one neighbour over pooled HTTP/1.1 connections; cheap to clone.
#[derive(Clone)]
pub struct Forwarder {
    http: Arc<HttpClient>,
    address: String,
    /// The longest a forwarded call may take (less when the caller's deadline is nearer).
    pub timeout: Duration,
}

impl Forwarder {
    /// A forwarder to the program listening at `address` (`host:port`).
    pub fn new(address: impl Into<String>, timeout: Duration) -> Self {
        Forwarder { http: Arc::new(HttpClient::new(64)), address: address.into(), timeout }
    }

    /// The neighbour's address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// One call, forwarded.
    pub async fn forward(&self, req: Request) -> micro::Result<Response> {
        let path = endpoint_path(&req.endpoint);
        let mut headers: Vec<(&str, &str)> = vec![
            ("Content-Type", req.content_type.as_str()),
            ("Micro-Service", req.service.as_str()),
            ("Micro-Endpoint", req.endpoint.as_str()),
        ];
        for (k, v) in &req.header {
            let lower = k.to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "content-type" | "content-length" | "host" | "micro-service" | "micro-endpoint" | "connection"
            ) || crate::handler::is_hop_by_hop(&lower)
                || v.contains(['\r', '\n'])
            {
                continue;
            }
            headers.push((k.as_str(), v.as_str()));
        }
        let budget = match req.deadline {
            Some(d) => d.saturating_duration_since(Instant::now()).min(self.timeout),
            None => self.timeout,
        };
        let sent = self.http.post(&self.address, &path, &headers, req.body.clone());
        let (status, body) = match tokio::time::timeout(budget, sent).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                return Err(Error::new(
                    req.service.clone(),
                    format!("neighbour at {} did not answer {}: {e}", self.address, req.endpoint),
                    502,
                ))
            }
            Err(_) => {
                tracing::warn!(target: "micro::proxy", endpoint = %req.endpoint, neighbour = %self.address, ?budget, "neighbour timed out");
                return Err(Error::timeout(
                    req.service.clone(),
                    format!("neighbour at {} did not answer {} within {budget:?}", self.address, req.endpoint),
                ));
            }
        };
        if status.is_success() {
            return Ok(Response { body, content_type: Some(req.content_type) });
        }
        Err(neighbour_error(&req.service, status.as_u16(), &body))
    }
}

/// The path an endpoint is posted to: `Greeter.Hello` → `/greeter/hello`, `/x` → `/x`.
pub fn endpoint_path(endpoint: &str) -> String {
    if endpoint.starts_with('/') {
        return endpoint.to_string();
    }
    let mut p = String::with_capacity(endpoint.len() + 1);
    for part in endpoint.split('.').filter(|s| !s.is_empty()) {
        p.push('/');
        p.push_str(&part.to_ascii_lowercase());
    }
    if p.is_empty() {
        p.push('/');
    }
    p
}

/// The go-micro error for a neighbour's non-2xx answer.
fn neighbour_error(service: &str, status: u16, body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(body);
    let parsed = Error::parse(text.trim());
    if parsed.code != 0 {
        return parsed;
    }
    let detail =
        if text.trim().is_empty() { format!("the neighbour answered {status}") } else { text.trim().to_string() };
    Error::new(service, detail, i32::from(status))
}

#[cfg(test)]
mod tests {
    use super::{endpoint_path, neighbour_error};

    #[test]
    fn endpoints_become_lowercase_paths() {
        assert_eq!(endpoint_path("Greeter.Hello"), "/greeter/hello");
        assert_eq!(endpoint_path("/api/v1/x"), "/api/v1/x");
        assert_eq!(endpoint_path(""), "/");
    }

    #[test]
    fn non_2xx_becomes_a_go_micro_error() {
        let e = neighbour_error("foo", 404, b"no such thing\n");
        assert_eq!((e.id.as_str(), e.code, e.detail.as_str()), ("foo", 404, "no such thing"));
        let e = neighbour_error("foo", 500, br#"{"id":"app","code":418,"detail":"teapot"}"#);
        assert_eq!((e.id.as_str(), e.code), ("app", 418));
        assert_eq!(neighbour_error("foo", 503, b"").detail, "the neighbour answered 503");
    }
}
