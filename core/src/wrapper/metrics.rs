//! Prometheus metrics under go-micro v5's names (`wrapper/monitoring/prometheus`), so one
//! dashboard serves Go and non-Go services alike:
//!
//! - `micro_request_total{service,endpoint,status}`: a counter;
//! - `micro_request_duration_seconds{service,endpoint,status}`: a histogram with
//!   Prometheus' default buckets (5 ms … 10 s).
//!
//! `status` is `success` or `fail`. Handled requests are labelled with the service and
//! endpoint called, client calls with the service and endpoint they call, and messages
//! with `service="subscriber"` and the topic as the endpoint, as go-micro labels them.
//! [`serve`] exposes them on `http://ADDRESS/metrics`; a [`crate::Service`] does so when
//! `MICRO_METRICS_ADDRESS` (or [`crate::ServiceBuilder::metrics_address`]) is set.
//! The text is rendered by the `prometheus-client` crate (the Prometheus project's own
//! Rust client), not by hand.
//!
//! Recording is cheap: the counter and histogram of each (service, endpoint, status) are
//! looked up in their families once and kept (they share their values with the families),
//! so a call costs one read-locked lookup by `&str`, no allocation, an atomic add and the
//! histogram's own lock. A series still appears in the exposition only once it has been
//! recorded, as in go-micro.

use super::{
    call_wrapper, handler_wrapper, status, subscriber_wrapper, CallWrapper, HandlerWrapper, SubscriberWrapper,
};
use crate::error::{Error, Result};
use bytes::Bytes;
use http_body_util::Full;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

/// Prometheus' default histogram buckets, in seconds (go-micro uses them).
pub const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    service: String,
    endpoint: String,
    status: String,
}

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// A set of request metrics and the wrappers that record into it; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: Family<Labels, Counter>,
    durations: Family<Labels, Histogram, fn() -> Histogram>,
    /// The series of every (service, endpoint) recorded so far: service → endpoint → series.
    series: RwLock<HashMap<String, HashMap<String, Arc<Series>>>>,
}

/// The series of one (service, endpoint): its counter and histogram for each status, taken
/// from the families the first time that status is recorded.
struct Series {
    service: String,
    endpoint: String,
    success: OnceLock<(Counter, Histogram)>,
    fail: OnceLock<(Counter, Histogram)>,
}

impl Series {
    /// Records one outcome that started at `started`.
    fn record(&self, inner: &Inner, ok: bool, started: Instant) {
        let (slot, status) = if ok { (&self.success, "success") } else { (&self.fail, "fail") };
        let (count, duration) = slot.get_or_init(|| {
            let labels =
                Labels { service: self.service.clone(), endpoint: self.endpoint.clone(), status: status.to_string() };
            (inner.requests.get_or_create_owned(&labels), inner.durations.get_or_create_owned(&labels))
        });
        count.inc();
        duration.observe(started.elapsed().as_secs_f64());
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty set, named as go-micro names its metrics (`micro_…`).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("micro");
        let requests = Family::<Labels, Counter>::default();
        let durations = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        registry.register(
            "request",
            // The encoder ends help with a full stop.
            "How many go-micro requests processed, partitioned by service, endpoint and status",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Histogram of go-micro request latencies in seconds, partitioned by service, endpoint and status",
            durations.clone(),
        );
        Metrics { inner: Arc::new(Inner { registry, requests, durations, series: RwLock::default() }) }
    }

    /// The series of (`service`, `endpoint`), made on first use.
    fn series(&self, service: &str, endpoint: &str) -> Arc<Series> {
        {
            let known = self.inner.series.read().unwrap_or_else(|p| p.into_inner());
            if let Some(s) = known.get(service).and_then(|e| e.get(endpoint)) {
                return Arc::clone(s);
            }
        }
        let mut known = self.inner.series.write().unwrap_or_else(|p| p.into_inner());
        let s = known.entry(service.to_string()).or_default().entry(endpoint.to_string()).or_insert_with(|| {
            Arc::new(Series {
                service: service.to_string(),
                endpoint: endpoint.to_string(),
                success: OnceLock::new(),
                fail: OnceLock::new(),
            })
        });
        Arc::clone(s)
    }

    /// Records one outcome.
    pub fn observe(&self, service: &str, endpoint: &str, ok: bool, started: Instant) {
        self.series(service, endpoint).record(&self.inner, ok, started);
    }

    /// Every metric in the OpenMetrics text format (`application/openmetrics-text;
    /// version=1.0.0`), as the `prometheus-client` crate writes it.
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry);
        out
    }

    /// Every metric in Prometheus' text format 0.0.4 (`text/plain; version=0.0.4`), what
    /// go-micro's `promhttp` handler serves to a scraper that asks for nothing else: the
    /// OpenMetrics text with each counter's HELP and TYPE lines naming the sample
    /// (`micro_request_total`, where OpenMetrics names the family `micro_request`) and no
    /// `# EOF`. Read by the text-format parsers OpenMetrics' output confuses (Prometheus' own
    /// 0.0.4 parser, PyPI `prometheus-client`'s `text_string_to_metric_families`).
    pub fn render(&self) -> String {
        to_text_format(&self.render_openmetrics())
    }

    /// Records every request a server handles.
    pub fn handler(&self) -> HandlerWrapper {
        let m = self.clone();
        handler_wrapper(move |req, next| {
            let m = m.clone();
            async move {
                let (series, started) = (m.series(&req.service, &req.endpoint), Instant::now());
                let out = next.run(req).await;
                series.record(&m.inner, status(&out) == "success", started);
                out
            }
        })
    }

    /// Records every call a client makes.
    pub fn call(&self) -> CallWrapper {
        let m = self.clone();
        call_wrapper(move |call, next| {
            let m = m.clone();
            async move {
                let (series, started) = (m.series(&call.service, &call.endpoint), Instant::now());
                let out = next.run(call).await;
                series.record(&m.inner, out.is_ok(), started);
                out
            }
        })
    }

    /// Records every message a subscriber gets (`service="subscriber"`, endpoint = topic).
    pub fn subscriber(&self) -> SubscriberWrapper {
        let m = self.clone();
        subscriber_wrapper(move |event, next| {
            let m = m.clone();
            async move {
                let (series, started) = (m.series("subscriber", &event.topic), Instant::now());
                let out = next.run(event).await;
                series.record(&m.inner, out.is_ok(), started);
                out
            }
        })
    }
}

/// OpenMetrics text to Prometheus text format 0.0.4 (see [`Metrics::render`]).
fn to_text_format(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> =
        openmetrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter")).collect();
    let mut out = String::with_capacity(openmetrics.len() + 64);
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let meta = line
            .strip_prefix("# HELP ")
            .map(|r| ("# HELP ", r))
            .or(line.strip_prefix("# TYPE ").map(|r| ("# TYPE ", r)));
        match meta {
            Some((kind, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let suffix = if counters.contains(name) && !name.ends_with("_total") { "_total" } else { "" };
                out.push_str(&format!("{kind}{name}{suffix} {tail}"));
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// What a scrape asks for, by its `Accept` header: OpenMetrics when it names it, else
/// Prometheus' text format 0.0.4 (as go-micro's `promhttp` negotiates).
fn exposition(metrics: &Metrics, accept: Option<&str>) -> (&'static str, String) {
    if accept.is_some_and(|a| a.contains("application/openmetrics-text")) {
        ("application/openmetrics-text; version=1.0.0; charset=utf-8", metrics.render_openmetrics())
    } else {
        ("text/plain; version=0.0.4; charset=utf-8", metrics.render())
    }
}

/// Serves `metrics` at `http://ADDRESS/metrics` (any other path: 404) until the returned
/// handle is dropped or aborted; the bound address (port 0 picks one) comes back with it.
pub async fn serve(address: &str, metrics: Metrics) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| Error::internal("go.micro.metrics", format!("MICRO_METRICS_ADDRESS {address}: {e}")))?;
    let bound = listener.local_addr().map_err(|e| Error::internal("go.micro.metrics", e.to_string()))?;
    let task = tokio::spawn(async move {
        loop {
            let (stream, _) = crate::transport::listener::accept_tcp(&listener).await;
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let answer = if req.uri().path() == "/metrics" {
                        let accept = req.headers().get(hyper::header::ACCEPT).and_then(|v| v.to_str().ok());
                        let (content_type, text) = exposition(&metrics, accept);
                        hyper::Response::builder()
                            .header("content-type", content_type)
                            .body(Full::new(Bytes::from(text)))
                    } else {
                        hyper::Response::builder()
                            .status(404)
                            .body(Full::new(Bytes::from_static(b"404 page not found\n")))
                    };
                    async move { answer }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await {
                    tracing::debug!(error = %e, "metrics connection ended");
                }
            });
        }
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format_names_counters_by_their_samples() {
        let m = Metrics::new();
        m.observe("greeter", "Greeter.Hello", true, Instant::now());
        let om = m.render_openmetrics();
        assert!(om.contains("# TYPE micro_request counter\n") && om.ends_with("# EOF\n"), "{om}");
        let text = m.render();
        assert!(text.contains("# TYPE micro_request_total counter\n"), "{text}");
        assert!(text.contains(
            "# HELP micro_request_total How many go-micro requests processed, partitioned by service, endpoint and status.\n"
        ));
        assert!(text.contains("# TYPE micro_request_duration_seconds histogram\n"));
        assert!(
            text.contains("micro_request_total{service=\"greeter\",endpoint=\"Greeter.Hello\",status=\"success\"} 1\n")
        );
        assert!(!text.contains("# EOF") && !text.contains(".."), "{text}");
        assert_eq!(
            exposition(&m, Some("application/openmetrics-text; version=1.0.0")).0.split(';').next(),
            Some("application/openmetrics-text")
        );
        assert_eq!(exposition(&m, Some("*/*")).0, "text/plain; version=0.0.4; charset=utf-8");
    }
}
