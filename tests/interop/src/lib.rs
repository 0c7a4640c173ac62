//! Helpers for the interop suite: run the go-micro harness binaries (`gm5`, `gm4`, `gm6`, see
//! `go/README.md`) and our Rust twin (`rgreeter`), read their JSON lines, and make sure no
//! process outlives a test.
//!
//! Every test here needs multicast on loopback, so it runs inside `scripts/netns.sh`
//! (which sets `MICRO_NETNS=1`); outside it, [`in_netns`] says so and the test is skipped.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The go-micro versions under test, by harness binary name.
pub const GO_VERSIONS: [&str; 3] = ["gm5", "gm4", "gm6"];

/// True inside the private namespace; otherwise prints why the test is skipped.
pub fn in_netns(test: &str) -> bool {
    if std::env::var("MICRO_NETNS").as_deref() == Ok("1") {
        return true;
    }
    eprintln!("skipping {test}: run inside scripts/netns.sh (needs multicast on loopback)");
    false
}

/// Path of a harness binary (`gm5`, `gm4`, `gm6`); panics with the build command if missing.
pub fn go_bin(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("go/bin").join(name);
    assert!(p.exists(), "{} missing: run tests/interop/go/build.sh", p.display());
    p
}

/// A running process whose stdout is JSON lines; killed on drop.
pub struct Proc {
    child: Child,
    lines: mpsc::Receiver<Value>,
    /// What it was started as, for messages.
    pub what: String,
}

impl Proc {
    /// Starts `bin args…`.
    pub fn spawn(bin: &PathBuf, args: &[&str]) -> Proc {
        let mut child = Command::new(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdout: ChildStdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                    Err(_) => eprintln!("(non-JSON stdout line) {line}"),
                }
            }
        });
        Proc { child, lines: rx, what: format!("{} {}", bin.display(), args.join(" ")) }
    }

    /// The next JSON line within `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Value> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// The next JSON line if one is already waiting (never blocks).
    pub fn try_next(&self) -> Option<Value> {
        self.lines.try_recv().ok()
    }

    /// Every JSON line already waiting, in order (never blocks).
    pub fn drain(&self) -> Vec<Value> {
        std::iter::from_fn(|| self.try_next()).collect()
    }

    /// Reads lines into `seen` until one matches `want`, for at most `timeout`; the
    /// matching line is returned (and kept in `seen`), `None` when time ran out or the
    /// process closed its stdout.
    pub fn wait_line(&self, seen: &mut Vec<Value>, timeout: Duration, want: impl Fn(&Value) -> bool) -> Option<Value> {
        if let Some(v) = seen.iter().find(|v| want(v)) {
            return Some(v.clone());
        }
        let deadline = Instant::now() + timeout;
        while let Some(v) = self.next(deadline.saturating_duration_since(Instant::now())) {
            seen.push(v.clone());
            if want(&v) {
                return Some(v);
            }
        }
        None
    }

    /// Waits for the `{"event":"ready"}` line.
    pub fn ready(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(v) = self.next(Duration::from_millis(200)) {
                if v["event"] == "ready" {
                    return v;
                }
            }
        }
        panic!("{} never printed its ready line", self.what);
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            assert!(Instant::now() < deadline, "{} did not exit after SIGTERM", self.what);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no deregistration, no goodbye.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a harness command to completion (bounded) and returns its JSON lines.
pub fn run(bin: &PathBuf, args: &[&str]) -> Vec<Value> {
    let p = Proc::spawn(bin, args);
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut p = p;
    loop {
        while let Some(v) = p.next(Duration::from_millis(20)) {
            out.push(v);
        }
        if let Ok(Some(st)) = p.child.try_wait() {
            while let Some(v) = p.next(Duration::from_millis(50)) {
                out.push(v);
            }
            assert!(st.success(), "{} exited with {st}", p.what);
            return out;
        }
        assert!(Instant::now() < deadline, "{} ran over 60 s", p.what);
    }
}

/// The node ids of a `gm watch --cache-ms` view line, `None` for any other line.
pub fn view_nodes(v: &Value) -> Option<std::collections::BTreeSet<String>> {
    if v["event"] != "view" {
        return None;
    }
    Some(v["nodes"].as_array()?.iter().filter_map(|n| n.as_str().map(str::to_string)).collect())
}

/// `gm watch --service NAME --cache-ms EVERY`, returned once the go-micro registry cache
/// it polls holds exactly `ids`, with the lines read so far. A cache whose first lookup
/// heard only some of the nodes keeps that answer for go-micro's one-minute TTL, so such
/// a view is replaced (three tries, 20 s each: a v5 cache that looked too early waits 5 s
/// before asking again).
pub fn go_view(gm: &str, name: &str, ids: &[&str], every_ms: u32) -> (Proc, Vec<Value>) {
    let want: std::collections::BTreeSet<String> = ids.iter().map(|s| s.to_string()).collect();
    let every = every_ms.to_string();
    for _ in 0..3 {
        let v = Proc::spawn(&go_bin(gm), &["watch", "--service", name, "--cache-ms", &every]);
        v.ready();
        let mut seen = Vec::new();
        if v.wait_line(&mut seen, Duration::from_secs(20), |l| view_nodes(l).as_ref() == Some(&want)).is_some() {
            return (v, seen);
        }
        eprintln!("{gm}: the cache view of {name} never held {ids:?} ({seen:?}); starting another");
    }
    panic!("{gm}: no go-micro registry cache view of {name} ever held {ids:?}");
}

/// A loopback TCP port that is free now and lies below the kernel's ephemeral range, so no
/// `:0` bind in this suite can be handed it later: the address of a SIGKILLed node stays
/// dead instead of being taken by the next server a parallel test starts. Each call in a
/// process returns a different port.
pub fn port_outside_ephemeral_range() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse::<u32>().ok()))
        .unwrap_or(32768);
    let (first, span) = (10_000u32, low.saturating_sub(10_000).max(1));
    let base = std::process::id() % span;
    loop {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        assert!(n < span, "no free port below {low}");
        let port = (first + (base + n * 7) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Milliseconds since the Unix epoch: the clock of the harness's `at_ms` fields.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A unique service name per test and version, so tests do not see each other.
pub fn unique(prefix: &str, version: &str) -> String {
    format!("{prefix}.{version}.{}", std::process::id() % 100_000)
}
