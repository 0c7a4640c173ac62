//! `--enable_stats`: request counters for `/stats` (the classic toolkit's dashboard, spec §4)
//! and `/metrics` (Prometheus text format).
//!
//! Fixed from the classic: the real status of every answer is counted (the classic counted
//! everything as 20x), 30x is shown, and the page's own polling is not counted (the caller,
//! [`crate::Gateway::handle`], leaves `/stats` and `/metrics` out).
//!
//! Counters go in 5-second buckets, the last 23 kept (about two minutes), as the classic did.

use crate::{error, full, Body};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Seconds per bucket.
pub const BUCKET_SECS: u64 = 5;
/// Buckets kept.
pub const BUCKETS: usize = 23;

/// Requests counted in one bucket.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Counter {
    /// The bucket's start, Unix seconds.
    pub timestamp: u64,
    /// Requests per status class: `20x`, `30x`, `40x`, `50x` (1xx counts as 20x).
    pub status_codes: StatusCodes,
    /// All requests in the bucket.
    pub total_reqs: u64,
}

/// Requests per status class.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct StatusCodes {
    /// 1xx and 2xx.
    #[serde(rename = "20x")]
    pub ok: u64,
    /// 3xx.
    #[serde(rename = "30x")]
    pub redirect: u64,
    /// 4xx.
    #[serde(rename = "40x")]
    pub client_error: u64,
    /// 5xx.
    #[serde(rename = "50x")]
    pub server_error: u64,
}

impl StatusCodes {
    fn add(&mut self, status: u16) {
        match status {
            300..=399 => self.redirect += 1,
            400..=499 => self.client_error += 1,
            500.. => self.server_error += 1,
            _ => self.ok += 1,
        }
    }
}

#[derive(Default)]
struct Totals {
    codes: StatusCodes,
    requests: u64,
    latency_sum: Duration,
}

/// The counters of one gateway.
pub struct Stats {
    started: SystemTime,
    started_at: Instant,
    buckets: Mutex<VecDeque<Counter>>,
    totals: Mutex<Totals>,
}

/// The JSON snapshot `/stats` answers to `Content-Type: application/json`.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    /// Start, Unix seconds.
    pub started: u64,
    /// Seconds since start.
    pub uptime: u64,
    /// The snapshot's time, Unix seconds (the page lines its chart up on it).
    pub now: u64,
    /// Resident memory, as the classic's `"<x.xx>mb"`.
    pub memory: String,
    /// Threads of the process.
    pub threads: u64,
    /// The classic's Go GC pause; always `"0.000ms"` (no garbage collector).
    pub gc_pause: String,
    /// The buckets, oldest first.
    pub counters: Vec<Counter>,
    /// Totals since start, per class.
    pub totals: StatusCodes,
    /// Requests since start.
    pub total_reqs: u64,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// `(resident bytes, threads)` of this process, from /proc (zeros elsewhere).
fn process() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_default()
    };
    (field("VmRSS:") * 1024, field("Threads:"))
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    /// Counters starting now.
    pub fn new() -> Self {
        Stats {
            started: SystemTime::now(),
            started_at: Instant::now(),
            buckets: Mutex::new(VecDeque::new()),
            totals: Mutex::new(Totals::default()),
        }
    }

    /// Counts one answer.
    pub fn record(&self, status: u16, took: Duration) {
        let now = unix(SystemTime::now());
        let start = now - now % BUCKET_SECS;
        {
            let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            if b.back().map_or(true, |c| c.timestamp != start) {
                b.push_back(Counter { timestamp: start, ..Counter::default() });
                while b.len() > BUCKETS {
                    b.pop_front();
                }
            }
            if let Some(c) = b.back_mut() {
                c.status_codes.add(status);
                c.total_reqs += 1;
            }
        }
        let mut t = self.totals.lock().unwrap_or_else(|p| p.into_inner());
        t.codes.add(status);
        t.requests += 1;
        t.latency_sum += took;
    }

    /// The snapshot as it stands.
    pub fn snapshot(&self) -> Snapshot {
        let (rss, threads) = process();
        let counters = self.buckets.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
        let t = self.totals.lock().unwrap_or_else(|p| p.into_inner());
        Snapshot {
            started: unix(self.started),
            uptime: self.started_at.elapsed().as_secs(),
            now: unix(SystemTime::now()),
            memory: format!("{:.2}mb", rss as f64 / (1024.0 * 1024.0)),
            threads,
            gc_pause: "0.000ms".into(),
            counters,
            totals: t.codes.clone(),
            total_reqs: t.requests,
        }
    }

    /// Prometheus text exposition of the totals.
    pub fn metrics(&self) -> String {
        let s = self.snapshot();
        let t = self.totals.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str("# HELP micro_api_requests_total Requests answered by the gateway, by status class.\n");
        out.push_str("# TYPE micro_api_requests_total counter\n");
        for (class, n) in [
            ("2xx", s.totals.ok),
            ("3xx", s.totals.redirect),
            ("4xx", s.totals.client_error),
            ("5xx", s.totals.server_error),
        ] {
            out.push_str(&format!("micro_api_requests_total{{code=\"{class}\"}} {n}\n"));
        }
        out.push_str("# HELP micro_api_request_duration_seconds_sum Time spent answering requests.\n");
        out.push_str("# TYPE micro_api_request_duration_seconds_sum counter\n");
        out.push_str(&format!("micro_api_request_duration_seconds_sum {}\n", t.latency_sum.as_secs_f64()));
        out.push_str(
            "# HELP process_resident_memory_bytes Resident memory.\n# TYPE process_resident_memory_bytes gauge\n",
        );
        out.push_str(&format!("process_resident_memory_bytes {}\n", process().0));
        out.push_str(
            "# HELP process_start_time_seconds Start time, Unix seconds.\n# TYPE process_start_time_seconds gauge\n",
        );
        out.push_str(&format!("process_start_time_seconds {}\n", s.started));
        out
    }

    /// The answer for `/stats` (JSON to `Content-Type: application/json` or
    /// `Accept: application/json`, else the HTML page) or `/metrics`.
    pub fn page<B>(&self, req: &Request<B>) -> Response<Body> {
        if req.uri().path() == "/metrics" {
            let mut rsp = Response::new(full(self.metrics()));
            rsp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
            return rsp;
        }
        let wants_json = ["content-type", "accept"].iter().any(|h| {
            req.headers().get(*h).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("application/json"))
        });
        if wants_json {
            let body = serde_json::to_vec(&self.snapshot()).unwrap_or_default();
            return error::with_body(StatusCode::OK, body);
        }
        let mut rsp = Response::new(full(PAGE));
        rsp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        rsp
    }
}

/// The stats page: the Info and Requests tables and a stacked bar chart of the last two
/// minutes, drawn from the JSON it fetches every 5 s; no CDN, no favicon request.
const PAGE: &str = include_str!("stats.html");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_is_counted_as_it_was_answered() {
        let s = Stats::new();
        for code in [200, 201, 301, 404, 400, 500, 503, 504] {
            s.record(code, Duration::from_millis(1));
        }
        let snap = s.snapshot();
        assert_eq!(snap.total_reqs, 8);
        assert_eq!(snap.totals, StatusCodes { ok: 2, redirect: 1, client_error: 2, server_error: 3 });
        let last = snap.counters.last().expect("a bucket");
        assert_eq!(last.total_reqs, 8);
        assert!(s.metrics().contains("micro_api_requests_total{code=\"5xx\"} 3"));
    }
}
