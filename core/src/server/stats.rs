//! `Debug.Stats`, answered by the server itself (as `Debug.Health` is, in `conn.rs`), in the
//! shape of go-micro's `debug/proto` `StatsResponse`: timestamp, started, uptime, memory,
//! threads, gc, requests, errors, all uint64. go-micro fills them from its Go runtime (heap
//! in use, goroutines, GC pause total) and counts requests only when a handler wrapper
//! records them; we report the process's resident set and thread count from `/proc` (0 off
//! Linux), gc 0 (there is no collector), and count every unary call the server dispatches.
//! Counting is two relaxed atomic adds per call, so the hot path does not notice it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// What the server counts for `Debug.Stats`: when it was made, and the calls it answered.
pub(crate) struct Counters {
    started: u64,
    requests: AtomicU64,
    errors: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters { started: unix_now(), requests: AtomicU64::new(0), errors: AtomicU64::new(0) }
    }
}

impl Counters {
    /// Counts one answered call, and one error when it failed.
    pub(crate) fn record(&self, failed: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The numbers as of now.
    pub(crate) fn snapshot(&self) -> Stats {
        let now = unix_now();
        let (memory, threads) = process_usage();
        Stats {
            timestamp: now,
            started: self.started,
            uptime: now.saturating_sub(self.started),
            memory,
            threads,
            gc: 0,
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

/// A server's `Debug.Stats` answer (go-micro's `debug.StatsResponse`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// When these numbers were taken, Unix seconds.
    pub timestamp: u64,
    /// When the server was made, Unix seconds.
    pub started: u64,
    /// Seconds since `started`.
    pub uptime: u64,
    /// The process's resident set in bytes (0 where `/proc` is not available).
    pub memory: u64,
    /// The process's thread count (0 where `/proc` is not available); go-micro reports goroutines.
    pub threads: u64,
    /// Total garbage-collection pause in nanoseconds; always 0 here.
    pub gc: u64,
    /// Unary calls the server answered (including failed ones).
    pub requests: u64,
    /// Of those, the ones answered with an error.
    pub errors: u64,
}

impl Stats {
    fn fields(&self) -> [(&'static str, u64); 8] {
        [
            ("timestamp", self.timestamp),
            ("started", self.started),
            ("uptime", self.uptime),
            ("memory", self.memory),
            ("threads", self.threads),
            ("gc", self.gc),
            ("requests", self.requests),
            ("errors", self.errors),
        ]
    }

    /// The JSON go-micro v5/v6 writes (protojson): uint64 as strings, zero fields left out.
    pub fn to_json(&self) -> String {
        let parts: Vec<String> =
            self.fields().iter().filter(|(_, v)| *v != 0).map(|(k, v)| format!("\"{k}\":\"{v}\"")).collect();
        format!("{{{}}}", parts.join(","))
    }

    /// The protobuf encoding (fields 1–8 as varints, zero fields left out).
    pub fn to_protobuf(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        for (i, (_, v)) in self.fields().iter().enumerate() {
            if *v == 0 {
                continue;
            }
            out.push((i as u8 + 1) << 3); // field number, wire type 0 (varint)
            let mut v = *v;
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
        out
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// (resident set in bytes, threads) of this process; zeros where `/proc` cannot be read.
fn process_usage() -> (u64, u64) {
    match std::fs::read_to_string("/proc/self/status") {
        Ok(status) => parse_status(&status),
        Err(_) => (0, 0),
    }
}

/// Reads `VmRSS:` (kB — the resident set that `/proc/self/statm` gives in pages, without
/// needing the page size) and `Threads:` from `/proc/<pid>/status`.
fn parse_status(status: &str) -> (u64, u64) {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:").saturating_mul(1024), field("Threads:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_protojson_strings_without_zeros() {
        let s =
            Stats { timestamp: 10, started: 7, uptime: 3, memory: 4096, threads: 5, requests: 2, ..Default::default() };
        assert_eq!(
            s.to_json(),
            r#"{"timestamp":"10","started":"7","uptime":"3","memory":"4096","threads":"5","requests":"2"}"#
        );
        assert_eq!(Stats::default().to_json(), "{}");
    }

    #[test]
    fn protobuf_is_varints_by_field_number() {
        let s = Stats { started: 300, errors: 1, ..Default::default() };
        assert_eq!(s.to_protobuf(), vec![0x10, 0xac, 0x02, 0x40, 0x01]);
    }

    #[test]
    fn status_gives_resident_bytes_and_threads() {
        let status = "Name:\tx\nVmRSS:\t    2048 kB\nThreads:\t7\n";
        assert_eq!(parse_status(status), (2048 * 1024, 7));
        assert_eq!(parse_status(""), (0, 0));
    }

    #[test]
    fn counters_count_calls_and_errors() {
        let c = Counters::default();
        c.record(false);
        c.record(true);
        let s = c.snapshot();
        assert_eq!((s.requests, s.errors), (2, 1));
        assert!(s.started > 0 && s.timestamp >= s.started);
        if cfg!(target_os = "linux") {
            assert!(s.memory > 0 && s.threads > 0, "{s:?}");
        }
    }
}
