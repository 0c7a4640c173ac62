//! The terminal page's commands (classic W10), run in this process on the library — never a
//! shell: `help`, `list services` (`services`, `ls services`), `get service NAME` (`get
//! NAME`), `call SERVICE ENDPOINT [JSON…]` and `health SERVICE` (`health check SERVICE`).
//! Words are split on white space; `call`'s request is the rest of the line as typed (one
//! pair of enclosing single quotes taken off), and anything else is `<command>: command not
//! found` with the help.
//!
//! `call` goes through the gateway's call path ([`super::call`]) with the user's
//! request headers ([`super::call`]); `health` calls `Debug.Health` on each node of the service, and reports
//! a node that does not serve it but answers as reachable, as `micro health` does.

use super::call::call_as;
use crate::{error, handler, Body, Gateway, GATEWAY_ID};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Request, Response, StatusCode};
use micro::CallOptions;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What the commands are, as `help` prints them.
pub const HELP: &str = "\
Commands:
  list services                      the services in the registry
  get service NAME                   a service's versions, nodes and endpoints (JSON)
  call SERVICE ENDPOINT [JSON]       call an endpoint, e.g. call greeter Greeter.Hello {\"name\": \"John\"}
  health SERVICE                     Debug.Health of each node of a service
  help                               this text";

/// `POST /_web/cli`'s body.
#[derive(Deserialize)]
struct Line {
    command: String,
}

/// Its answer: the text to show, and whether the command did what it was asked.
#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct Output {
    /// The command's output.
    pub output: String,
    /// False for an error, an unknown command or a failed call.
    pub ok: bool,
}

impl Output {
    fn ok(output: impl Into<String>) -> Self {
        Output { output: output.into(), ok: true }
    }

    fn failed(output: impl Into<String>) -> Self {
        Output { output: output.into(), ok: false }
    }
}

/// Answers `POST /_web/cli` with `{"command": "…"}`: `{"output", "ok"}`, status 200 whatever
/// the command's outcome (a 400 only when the body is not that JSON).
pub async fn serve(gateway: &Gateway, req: Request<Body>) -> Response<Body> {
    let (parts, body) = match handler::read_body(&gateway.shared, req).await {
        Ok(p) => p,
        Err(rsp) => return rsp,
    };
    let line: Line = match serde_json::from_slice(&body) {
        Ok(l) => l,
        Err(e) => {
            return error::json(StatusCode::BAD_REQUEST, GATEWAY_ID, format!("expected {{\"command\": \"…\"}}: {e}"))
        }
    };
    let out = run(gateway, &parts, &line.command).await;
    error::with_body(StatusCode::OK, serde_json::to_vec(&out).unwrap_or_default())
}

/// Runs one command line as the request whose head is `head`.
pub async fn run(gateway: &Gateway, head: &hyper::http::request::Parts, line: &str) -> Output {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [] => Output::ok(""),
        ["help"] => Output::ok(HELP),
        ["list", "services"] | ["ls", "services"] | ["services"] => list(gateway).await,
        ["get", "service", name] | ["get", name] => get(gateway, name).await,
        ["call", service, endpoint, ..] => {
            let (_, rest) = word(line);
            let (_, rest) = word(rest);
            let (_, rest) = word(rest);
            let rest = rest.trim();
            let rest = rest.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')).unwrap_or(rest);
            let body = if rest.is_empty() { "{}".to_string() } else { rest.to_string() };
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&body) {
                return Output::failed(format!("the request is not JSON: {e}"));
            }
            call(gateway, head, service, endpoint, body).await
        }
        ["health", "check", name] | ["health", name] => health(gateway, name).await,
        [cmd, ..] => Output::failed(format!("{cmd}: command not found\n{HELP}")),
    }
}

/// The first word of `s` and what follows it.
fn word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

async fn list(gw: &Gateway) -> Output {
    match gw.shared.registry.list_services().await {
        Ok(services) => {
            let mut names: Vec<String> = services.into_iter().map(|s| s.name).collect();
            names.sort();
            names.dedup();
            Output::ok(names.join("\n"))
        }
        Err(e) => Output::failed(format!("registry: {}", e.detail)),
    }
}

async fn get(gw: &Gateway, name: &str) -> Output {
    match handler::lookup(&gw.shared, name).await {
        Ok(v) if !v.is_empty() => Output::ok(serde_json::to_string_pretty(v.as_slice()).unwrap_or_default()),
        Ok(_) => Output::failed(format!("service not found: {name}")),
        Err(e) if e.code == 404 => Output::failed(format!("service not found: {name}")),
        Err(e) => Output::failed(format!("registry: {}", e.detail)),
    }
}

async fn call(gw: &Gateway, head: &hyper::http::request::Parts, service: &str, endpoint: &str, body: String) -> Output {
    let rsp = call_as(gw, head, service, endpoint, Bytes::from(body)).await;
    let ok = rsp.status().is_success();
    let bytes = match rsp.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Output::failed(format!("reading the reply: {e}")),
    };
    let text = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
    };
    Output { output: text, ok }
}

async fn health(gw: &Gateway, name: &str) -> Output {
    let s = &gw.shared;
    let versions = match handler::lookup(s, name).await {
        Ok(v) => v,
        Err(e) if e.code == 404 => Arc::default(),
        Err(e) => return Output::failed(format!("registry: {}", e.detail)),
    };
    let nodes: Vec<(String, String, String)> = versions
        .iter()
        .flat_map(|v| v.nodes.iter().map(move |n| (v.version.clone(), n.id.clone(), n.address.clone())))
        .collect();
    if nodes.is_empty() {
        return Output::failed(format!("service not found: {name}"));
    }
    let mut lines = vec![format!("service  {name}"), String::new(), "version  node  address  status".into()];
    let mut all = true;
    for (version, id, address) in nodes {
        let opts = CallOptions {
            address: vec![address.clone()],
            request_timeout: Some(s.opts.request_timeout),
            retries: Some(0),
            ..CallOptions::default()
        };
        let status = match s.client.call(name, "Debug.Health", Bytes::from_static(b"{}"), &opts).await {
            Ok(reply) => serde_json::from_slice::<serde_json::Value>(&reply.body)
                .ok()
                .and_then(|v| v.get("status").and_then(|x| x.as_str()).map(str::to_string))
                .unwrap_or_else(|| "ok".into()),
            // The node answered with an error of its own: it is up, without Debug.Health.
            Err(e) if !e.id.starts_with(micro::error::CLIENT_ID) => "reachable (does not serve Debug.Health)".into(),
            Err(e) => {
                all = false;
                format!("unreachable: {}", e.detail)
            }
        };
        lines.push(format!("{version}  {id}  {address}  {status}"));
    }
    Output { output: lines.join("\n"), ok: all }
}

#[cfg(test)]
mod tests {
    use super::{word, HELP};

    #[test]
    fn words_and_the_rest_of_the_line() {
        assert_eq!(word("  call  svc X.Y {\"a\": 1}"), ("call", "  svc X.Y {\"a\": 1}"));
        assert_eq!(word("help"), ("help", ""));
    }

    #[test]
    fn help_names_every_command() {
        for cmd in ["list services", "get service", "call", "health"] {
            assert!(HELP.contains(cmd), "{cmd}");
        }
    }
}
