//! Helpers for the interop suite: run the go-micro harness binaries (`gm5`, `gm4`, see
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
pub const GO_VERSIONS: [&str; 2] = ["gm5", "gm4"];

/// True inside the private namespace; otherwise prints why the test is skipped.
pub fn in_netns(test: &str) -> bool {
    if std::env::var("MICRO_NETNS").as_deref() == Ok("1") {
        return true;
    }
    eprintln!("skipping {test}: run inside scripts/netns.sh (needs multicast on loopback)");
    false
}

/// Path of a harness binary (`gm5`, `gm4`); panics with the build command if missing.
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

/// A unique service name per test and version, so tests do not see each other.
pub fn unique(prefix: &str, version: &str) -> String {
    format!("{prefix}.{version}.{}", std::process::id() % 100_000)
}
