//! Shared pieces of the benchmark binaries: argument parsing, the greeter's message types
//! and the result line every load generator prints.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// `Greeter.Hello`'s request, the same on every side.
#[derive(Serialize, Deserialize)]
pub struct HelloRequest {
    /// Who to greet.
    pub name: String,
}

/// `Greeter.Hello`'s reply.
#[derive(Serialize, Deserialize)]
pub struct Reply {
    /// `Hello <name>`.
    pub message: String,
}

/// `--key value` pairs after a subcommand.
pub struct Args {
    map: HashMap<String, String>,
}

impl Args {
    /// Parses `--key value` pairs; anything else is an error.
    pub fn parse(args: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut map = HashMap::new();
        let mut it = args;
        while let Some(k) = it.next() {
            let key = k.strip_prefix("--").ok_or_else(|| format!("expected --flag, got {k:?}"))?.to_string();
            let v = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
            map.insert(key, v);
        }
        Ok(Args { map })
    }

    /// A string flag with a default.
    pub fn str(&self, key: &str, default: &str) -> String {
        self.map.get(key).cloned().unwrap_or_else(|| default.to_string())
    }

    /// A number flag with a default.
    pub fn num(&self, key: &str, default: f64) -> Result<f64, String> {
        match self.map.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{key}: {v:?} is not a number")),
        }
    }
}

/// A latency histogram in nanoseconds, 1 µs .. 60 s at 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts; failure here is a programming error.
    Histogram::new_with_bounds(1_000, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Records one latency, clamping into the histogram's range.
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let ns = (d.as_nanos() as u64).clamp(1_000, 60_000_000_000);
    h.saturating_record(ns);
}

/// One workload's figures, printed as a JSON line (latencies in µs).
#[derive(Serialize)]
pub struct Outcome {
    /// Calls (or stream round trips) started in the measured window, errors included.
    pub requests: u64,
    /// Calls that failed or returned the wrong reply.
    pub errors: u64,
    /// Length of the measured window.
    pub seconds: f64,
    /// requests / seconds.
    pub rate: f64,
    /// Median latency.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
}

impl Outcome {
    /// Builds the result from a merged histogram.
    pub fn from_histogram(h: &Histogram<u64>, errors: u64, seconds: f64) -> Outcome {
        let q = |x: f64| if h.is_empty() { 0.0 } else { h.value_at_quantile(x) as f64 / 1000.0 };
        Outcome {
            requests: h.len(),
            errors,
            seconds,
            rate: h.len() as f64 / seconds,
            p50_us: q(0.50),
            p99_us: q(0.99),
            p999_us: q(0.999),
        }
    }

    /// Prints the JSON line on stdout.
    pub fn print(&self) {
        match serde_json::to_string(self) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("cannot encode result: {e}"),
        }
    }
}

/// The message the publish workload sends: a sequence number and the publish time.
#[derive(Serialize, Deserialize)]
pub struct Tick {
    /// Publish order, from 0.
    pub seq: u64,
    /// Nanoseconds since the publisher's start (same process as the subscriber).
    pub t: u64,
}

/// The publish workload's figures: [`Outcome`] over deliveries, plus the message counts.
///
/// `requests` is the deliveries in the measured window, `rate` deliveries/s, latencies are
/// publish → handler; `errors` is `lost`.
#[derive(Serialize)]
pub struct PubsubOutcome {
    /// Deliveries in the measured window and their publish → delivery latency.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Messages published over the whole run (warm-up included).
    pub published: u64,
    /// Messages delivered over the whole run, after the drain.
    pub received: u64,
    /// `published − received` after the drain (negative would mean duplicates).
    pub lost: i64,
    /// Publish calls that returned an error (counted in `published` too).
    pub publish_errors: u64,
    /// The bound on published − received while publishing.
    pub window: u64,
}

impl PubsubOutcome {
    /// Prints the JSON line on stdout.
    pub fn print(&self) {
        match serde_json::to_string(self) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("cannot encode result: {e}"),
        }
    }
}
