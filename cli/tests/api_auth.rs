//! `micro api --auth` through the built binary, on loopback with the memory registry (no
//! mDNS): the first start creates the admin account and prints its generated password once,
//! on stderr; a second start over the same `--auth_dir` prints nothing and the password still
//! signs in; `MICRO_ADMIN_PASSWORD` sets it instead; calls without a token are refused; an
//! unknown `--auth` is a usage error. The auth layer itself is tested in gateway/tests/auth.rs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

fn micro() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_micro"));
    for v in ["MICRO_REGISTRY", "MICRO_AUTH", "MICRO_AUTH_DIR", "MICRO_ADMIN_PASSWORD", "MICRO_API_ADDRESS"] {
        c.env_remove(v);
    }
    c
}

/// A background `micro api --auth`, killed by [`Api::stop`], which hands back its stderr.
struct Api {
    child: Child,
    addr: String,
    stderr: Option<JoinHandle<String>>,
}

impl Api {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Api {
        let dir = dir.to_str().expect("utf-8 dir");
        let mut child = micro()
            .args(["--registry", "memory", "api", "--api_address", "127.0.0.1:0", "--auth", "--auth_dir", dir])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start micro api");
        let mut err = child.stderr.take().expect("stderr");
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("first line");
        assert!(line.contains("auth on"), "{line}");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Api { child, addr, stderr: Some(stderr) }
    }

    /// One HTTP/1.1 request → (status, body).
    fn request(&self, method: &str, path: &str, content_type: &str, body: &str) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }

    fn login(&self, password: &str) -> u16 {
        let body = serde_json::json!({"id": "admin", "password": password}).to_string();
        self.request("POST", "/auth/login", "application/json", &body).0
    }

    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default()
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir() -> PathBuf {
    std::env::temp_dir().join(format!("micro-cli-auth-{}-{}", std::process::id(), rand_suffix()))
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default()
}

#[test]
fn first_start_prints_a_generated_admin_password_once_and_it_persists() {
    let dir = temp_dir();
    let api = Api::start(&dir, &[]);
    let (status, body) = api.request("POST", "/greeter/Greeter.Hello", "application/json", "{}");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("go.micro.auth") && body.contains("no token"), "{body}");
    // The notice is written before the listening line: it is all there.
    let first = api.stop();
    let password = first
        .split("with password ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no password on stderr: {first:?}"))
        .to_string();
    assert_eq!(first.matches(&password).count(), 1, "printed once: {first}");
    let store = std::fs::read_to_string(dir.join("auth.json")).expect("store");
    assert!(!store.contains(&password));

    let api = Api::start(&dir, &[]);
    assert_eq!(api.login("not-the-password"), 401);
    assert_eq!(api.login(&password), 200);
    let second = api.stop();
    assert!(!second.contains("with password") && !second.contains(&password), "{second}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn micro_admin_password_sets_the_first_admins_password() {
    let dir = temp_dir();
    let api = Api::start(&dir, &[("MICRO_ADMIN_PASSWORD", "chosen-by-the-user")]);
    assert_eq!(api.login("chosen-by-the-user"), 200);
    let err = api.stop();
    assert!(!err.contains("with password") && !err.contains("chosen-by-the-user"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);

    let out = micro()
        .args(["--registry", "memory", "api", "--api_address", "127.0.0.1:0", "--auth", "kerberos"])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown --auth \"kerberos\""));
}
