//! A real `nats-server` (Debian's package; `scripts/test.d/20-pubsub.sh` installs it) for the
//! NATS tests: found on PATH or by `NATS_SERVER`, started on free loopback ports with its
//! monitoring endpoint on (to see subscriptions arrive instead of sleeping for them), killed
//! on drop.

use super::free_port;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `nats-server` binary, or `None` (the test says it skips) — unless
/// `MICRO_REQUIRE_NATS=1`, which the pub/sub suite sets: then a missing one fails `test`.
pub fn nats_bin(test: &str) -> Option<PathBuf> {
    let found =
        [std::env::var("NATS_SERVER").ok(), Some("/usr/sbin/nats-server".into()), Some("/usr/bin/nats-server".into())]
            .into_iter()
            .flatten()
            .map(PathBuf::from)
            .find(|p| p.exists());
    if found.is_none() {
        assert!(std::env::var("MICRO_REQUIRE_NATS").as_deref() != Ok("1"), "{test}: nats-server not found");
        eprintln!("skipping {test}: no nats-server (apt-get install nats-server)");
    }
    found
}

/// A running `nats-server`, killed on drop.
pub struct NatsServer {
    child: Child,
    bin: PathBuf,
    args: Vec<String>,
    /// The client port.
    pub port: u16,
    /// The monitoring (HTTP) port.
    pub monitor: u16,
}

impl NatsServer {
    /// A server on free ports with `args` added (`-c conf`, `--auth …`). A port found free
    /// can be taken before nats-server binds it (by another test's connection): the server
    /// then exits, and it is started again on new ports, up to three times.
    pub fn start(bin: &Path, args: &[&str]) -> NatsServer {
        for attempt in 1.. {
            match Self::try_start(bin, free_port(), free_port(), args) {
                Ok(server) => return server,
                Err(why) if attempt < 3 => eprintln!("{why}: starting it again on new ports"),
                Err(why) => panic!("{why}"),
            }
        }
        unreachable!("the loop returns or panics")
    }

    /// A server on exactly `port`, which the test chose before (its clients already dial it).
    pub fn start_on(bin: &Path, port: u16, args: &[&str]) -> NatsServer {
        Self::try_start(bin, port, free_port(), args).unwrap_or_else(|why| panic!("{why}"))
    }

    fn try_start(bin: &Path, port: u16, monitor: u16, args: &[&str]) -> Result<NatsServer, String> {
        let mut child = Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-m", &monitor.to_string()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", monitor)).is_err()
        {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("nats-server exited ({status}) before listening on {port} (monitor {monitor})"));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("nats-server did not listen on {port} (monitor {monitor}) within 30 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let args = args.iter().map(|a| a.to_string()).collect();
        Ok(NatsServer { child, bin: bin.to_path_buf(), args, port, monitor })
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server (its clients see the connection drop).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server and starts it again on the same ports, with the same arguments.
    pub fn restart(&mut self) {
        self.stop();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        *self =
            Self::try_start(&self.bin.clone(), self.port, self.monitor, &args).unwrap_or_else(|why| panic!("{why}"));
    }

    /// The server's `/subsz` with every subscription listed.
    fn subsz(&self) -> serde_json::Value {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.monitor)).expect("monitor port");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /subsz?subs=1&limit=100000 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8_lossy(&raw);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("/subsz is not JSON ({e}): {text}"))
    }

    /// How many subscriptions the server holds on `subject` in `queue` (`None`: plain).
    pub fn subscriptions(&self, subject: &str, queue: Option<&str>) -> usize {
        self.subsz()["subscriptions_list"]
            .as_array()
            .map(|subs| subs.iter().filter(|s| s["subject"] == subject && s["qgroup"].as_str() == queue).count())
            .unwrap_or(0)
    }

    /// Messages the server has handed to its subscriptions on `subject` (`/subsz`'s `msgs`).
    pub fn delivered(&self, subject: &str) -> u64 {
        self.subsz()["subscriptions_list"]
            .as_array()
            .map(|subs| subs.iter().filter(|s| s["subject"] == subject).filter_map(|s| s["msgs"].as_u64()).sum())
            .unwrap_or(0)
    }

    /// Waits until the server holds at least `n` subscriptions on `subject` / `queue`.
    pub async fn wait_subscriptions(&self, subject: &str, queue: Option<&str>, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let have = self.subscriptions(subject, queue);
            if have >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nats-server holds {have} of {n} subscriptions on {subject} ({queue:?})"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
