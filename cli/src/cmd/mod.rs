//! The commands, one module each, and what they share: the `Failure` that becomes the exit
//! code, printing to stdout, JSON arguments, the text of a failed call, and calling one
//! endpoint on every node of a service (health, stats).
//!
//! A command is `run(…, opts, sess) -> Outcome`: it prints its result on stdout and returns
//! a `Failure` for `main` (or the interactive shell) to print on stderr. `list` serves both
//! `micro list services` and `micro services`.

pub mod api;
pub mod bot;
pub mod call;
pub mod deregister;
pub mod get;
pub mod health;
pub mod list;
pub mod listen;
pub mod mcp;
pub mod new;
pub mod proxy;
pub mod publish;
pub mod register;
pub mod run;
pub mod server;
pub mod stats;
pub mod stream;
pub mod web;

use crate::format::{self, NodeRow};
use crate::session::{call_options, direct_client, lookup, Session};
use crate::{Opts, Output};
use micro::Error;
use std::io::Write;

pub use crate::failure::{Failure, Outcome};

/// Prints one line (or block) on stdout and flushes it.
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Prints a reply body: indented JSON (json), the bytes as they came (raw).
pub fn print_body(body: &[u8], output: Output) {
    let mut out = std::io::stdout().lock();
    if output == Output::Raw {
        let _ = out.write_all(body);
        if !body.ends_with(b"\n") {
            let _ = out.write_all(b"\n");
        }
    } else {
        let _ = writeln!(out, "{}", body_text(body));
    }
    let _ = out.flush();
}

/// A reply body as text, as `micro call` prints it by default: JSON indented with tabs,
/// anything else as (lossy UTF-8) text without trailing blanks.
pub fn body_text(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => format::pretty(&v),
        Err(_) => String::from_utf8_lossy(body).trim_end().to_string(),
    }
}

/// `error calling S.E: <error json>` plus a line on what to do about it.
pub fn call_failure(sess: &Session, opts: &Opts, what: &str, e: &Error) -> Failure {
    let mut text = format!("error calling {what}: {e}");
    if e.code == 408 {
        text.push_str(&format!(
            "\nhint: no answer within --client_request_timeout={:?}; raise it (e.g. --client_request_timeout=30s)",
            opts.client_request_timeout
        ));
    } else if e.id == micro::error::CLIENT_ID && e.detail.contains("not found") {
        text.push_str(&format!("\nhint: {}", sess.where_hint()));
    } else if e.id.starts_with(micro::error::CLIENT_ID) && e.detail.contains("refused") {
        text.push_str(
            "\nhint: the node is registered but nothing listens there: it may have stopped without deregistering",
        );
    }
    Failure::Failed(text)
}

/// A JSON argument that may span several words (joined with spaces), `default` when there
/// are none; text that is not JSON is a usage failure that points at the spot.
pub fn json_arg(what: &str, parts: &[String], default: &str) -> Result<String, Failure> {
    let text = if parts.is_empty() { default.to_string() } else { parts.join(" ") };
    format::parse_json(what, &text).map_err(Failure::Usage)?;
    Ok(text)
}

/// Calls `endpoint` on every node of `service` (or the --address node).
/// Whether `e` came from the node (it is there) rather than from reaching it: the transport's
/// failures and the client's timeouts mean it did not answer; a go-micro node's plain-text
/// error arrives as a 500 from `go.micro.client` (as go-micro's own client reports it), and
/// every other error is the node's own.
fn node_answered(e: &Error) -> bool {
    match e.id.as_str() {
        micro::error::TRANSPORT_ID => false,
        micro::error::CLIENT_ID => e.code == 500 && !e.detail.starts_with("error selecting "),
        _ => true,
    }
}

pub async fn per_node(
    service: &str,
    endpoint: &str,
    opts: &Opts,
    sess: &Session,
) -> Result<Vec<(NodeRow, Result<bytes::Bytes, Error>)>, Failure> {
    let targets: Vec<(String, String, String)> = match &opts.address {
        Some(a) => vec![(String::new(), a.clone(), a.clone())],
        None => lookup(sess, service)
            .await?
            .into_iter()
            .flat_map(|s| s.nodes.into_iter().map(move |n| (s.version.clone(), n.id, n.address)))
            .collect(),
    };
    let mut rows = Vec::new();
    if let Some(remote) = &sess.proxy {
        // Through the sidecar's /rpc, one node at a time (`address`).
        for (version, id, address) in targets {
            let r = remote.call(service, endpoint, "{}", Some(&address)).await;
            let reachable = match &r {
                Ok(_) => true,
                Err(e) => node_answered(e) && e.code != 502 && e.code != 503,
            };
            rows.push((NodeRow { version, id, address, status: String::new(), reachable, stats: None }, r));
        }
        return Ok(rows);
    }
    let client = direct_client(opts)?;
    for (version, id, address) in targets {
        let mut copts = call_options(opts);
        copts.address = vec![address.clone()];
        copts.retries = Some(0);
        let r = client.call(service, endpoint, &b"{}"[..], &copts).await.map(|r| r.body);
        let reachable = match &r {
            Ok(_) => true,
            Err(e) => node_answered(e),
        };
        rows.push((NodeRow { version, id, address, status: String::new(), reachable, stats: None }, r));
    }
    Ok(rows)
}
