//! The http/proxy and web handlers: reverse proxy to a node of the service the path names
//! (spec §2.2, A15, A16, A20).
//!
//! [`resolver::proxy_route`] names the service (namespaced name first, then the short one);
//! one node is picked uniformly at random among all nodes of all its versions; the request —
//! original path and query, unchanged — goes to `http://<node address>` with hyper's pooled
//! client, bodies streamed both ways. Hop-by-hop headers (and those `Connection` names) stay
//! behind; `X-Forwarded-For` gets the peer appended to the client's chain, `X-Forwarded-Host`
//! and `X-Forwarded-Proto` are set; `Host` is passed on as the client sent it.
//!
//! Answers of its own (go-micro's error JSON, `Content-Type: application/json`):
//! - the path names no service (an alias that is not `[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*`): 404
//!   naming the path (the classic toolkit: a misleading 500 with an empty body);
//! - no service of that name: 404 naming the names tried;
//! - the service is registered but has no node: 503 — the name is right and nothing serves
//!   it at the moment, which is what 503 says (a client may retry), where a 404 would say
//!   the path is wrong (the classic toolkit answered 404 with an empty body);
//! - the node refuses or fails: 502 naming the node; no response head within the gateway's
//!   request timeout: 504;
//! - a body over the gateway's limit: 413, at once when `Content-Length` says so, else when
//!   the streamed body passes it (the node sees the request cut short).
//!
//! The web handler adds websockets: on `Connection: upgrade` with `Upgrade: websocket` it
//! opens a connection of its own to the node, sends the request with its upgrade headers,
//! and when the node answers 101 hands that 101 to the client and pipes bytes both ways
//! between the two upgraded connections. A node that answers otherwise is proxied as is.

use super::{forwarded_for, is_hop_by_hop, lookup, timeout};
use crate::{error, resolver, Body, BoxError, Peer, Shared, GATEWAY_ID};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, HOST, UPGRADE};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use micro::registry::Node;
use micro::selector::{Selector, Strategy};

/// The pooled HTTP/1.1 client the http and web handlers proxy with; one per gateway.
pub(crate) struct Upstream {
    client: Client<HttpConnector, Body>,
    selector: Selector,
}

impl Upstream {
    /// A client with keep-alive connections to upstream nodes.
    pub(crate) fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(std::time::Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Upstream { client, selector: Selector::new(Strategy::Random) }
    }
}

/// Serves one request with the http (proxy) handler.
pub(crate) async fn proxy(s: &Shared, req: Request<Body>) -> Response<Body> {
    let node = match pick(s, &req).await {
        Ok(n) => n,
        Err(rsp) => return rsp,
    };
    if let Err(rsp) = super::authorize(s, req.headers(), req.extensions(), &node.0, &node.1) {
        return rsp;
    }
    let node = node.2;
    forward(s, req, &node).await
}

/// Serves one request with the web handler (proxy plus websockets).
pub(crate) async fn web(s: &Shared, req: Request<Body>) -> Response<Body> {
    let node = match pick(s, &req).await {
        Ok(n) => n,
        Err(rsp) => return rsp,
    };
    if let Err(rsp) = super::authorize(s, req.headers(), req.extensions(), &node.0, &node.1) {
        return rsp;
    }
    let node = node.2;
    if is_websocket(req.headers()) {
        return websocket(s, req, &node).await;
    }
    forward(s, req, &node).await
}

/// Serves `req` with the web handler on the first of `names` with a node: what
/// [`crate::web::proxy`] (classic `micro web`, which names the service its own way) uses.
/// A scope rule names the service, or `service.VERB`, as for the web handler.
pub(crate) async fn web_named(s: &Shared, req: Request<Body>, names: &[String]) -> Response<Body> {
    let path = req.uri().path().to_string();
    let (name, node) = match pick_named(s, names, &path).await {
        Ok(n) => n,
        Err(rsp) => return rsp,
    };
    if let Err(rsp) = super::authorize(s, req.headers(), req.extensions(), &name, req.method().as_str()) {
        return rsp;
    }
    if is_websocket(req.headers()) {
        return websocket(s, req, &node).await;
    }
    forward(s, req, &node).await
}

/// The service found, the route's method (the HTTP verb: what a scope rule's endpoint names
/// for a proxied service) and the node to send `req` to, or the answer to give instead (see
/// the module docs).
async fn pick<B>(s: &Shared, req: &Request<B>) -> Result<(String, String, Node), Response<Body>> {
    let path = req.uri().path();
    let Some(route) = super::route_of(s, req, resolver::proxy_route) else {
        return Err(error::json(
            StatusCode::NOT_FOUND,
            GATEWAY_ID,
            format!(
                "no service: path {path} names none (its first segment, or v<N> and the second, is a service name)"
            ),
        ));
    };
    let (name, node) = pick_named(s, &resolver::candidates(&route), path).await?;
    Ok((name, route.method.clone(), node))
}

/// The first of `names` that has a node, with that node (the selector picks), or the 503/404
/// to give.
async fn pick_named(s: &Shared, names: &[String], path: &str) -> Result<(String, Node), Response<Body>> {
    let mut nodeless = None;
    for name in names {
        match lookup(s, name).await {
            Ok(versions) => {
                if let Some(node) = s.upstream.selector.select(&versions, &[], &[]) {
                    return Ok((name.clone(), node.clone()));
                }
                if !versions.is_empty() {
                    nodeless = Some(name.clone());
                }
            }
            Err(e) if e.code == 404 => {}
            Err(e) => {
                return Err(error::json(StatusCode::SERVICE_UNAVAILABLE, GATEWAY_ID, format!("registry: {}", e.detail)))
            }
        }
    }
    Err(match nodeless {
        Some(name) => error::json(
            StatusCode::SERVICE_UNAVAILABLE,
            GATEWAY_ID,
            format!("service {name} is registered but has no nodes serving it"),
        ),
        None => error::json(
            StatusCode::NOT_FOUND,
            GATEWAY_ID,
            format!("service not found: path {path} names {}, and the registry has none of them", names.join(" or ")),
        ),
    })
}

/// Whether `headers` ask for a websocket: `Connection` lists `upgrade` and `Upgrade` lists
/// `websocket` (case-insensitive, comma lists, several header lines).
pub(crate) fn is_websocket(headers: &HeaderMap) -> bool {
    let lists = |name: HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    lists(CONNECTION, "upgrade") && lists(UPGRADE, "websocket")
}

/// The headers to send upstream: the client's without the hop-by-hop ones (unless `keep_upgrade`:
/// a websocket handshake needs `Connection` and `Upgrade`), with the `X-Forwarded-*` set.
fn upstream_headers(headers: &HeaderMap, peer: Option<&Peer>, keep_upgrade: bool) -> HeaderMap {
    let named: Vec<String> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = HeaderMap::with_capacity(headers.len() + 3);
    for (name, value) in headers {
        let n = name.as_str();
        let upgrade_header = n == "connection" || n == "upgrade";
        if (is_hop_by_hop(n) || named.iter().any(|t| t == n)) && !(keep_upgrade && upgrade_header) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    if keep_upgrade {
        // Only what the handshake needs, whatever else the client's Connection listed.
        out.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    }
    out.remove("x-forwarded-for");
    if let Some(v) = forwarded_for(headers, peer).and_then(|c| HeaderValue::from_str(&c).ok()) {
        out.insert("x-forwarded-for", v);
    }
    if let Some(host) = headers.get(HOST) {
        out.insert("x-forwarded-host", host.clone());
    }
    let proto = if peer.is_some_and(|p| p.tls) { "https" } else { "http" };
    out.insert("x-forwarded-proto", HeaderValue::from_static(proto));
    out
}

/// A response from upstream as the gateway's, hop-by-hop headers dropped (a 101 keeps its
/// `Connection` and `Upgrade`).
fn downstream(rsp: Response<hyper::body::Incoming>) -> Response<Body> {
    let switching = rsp.status() == StatusCode::SWITCHING_PROTOCOLS;
    let (mut parts, body) = rsp.into_parts();
    let named: Vec<String> = parts
        .headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    let drop: Vec<HeaderName> = parts
        .headers
        .keys()
        .filter(|n| {
            let n = n.as_str();
            let upgrade_header = n == "connection" || n == "upgrade";
            (is_hop_by_hop(n) || named.iter().any(|t| t == n)) && !(switching && upgrade_header)
        })
        .cloned()
        .collect();
    for name in drop {
        parts.headers.remove(name);
    }
    Response::from_parts(parts, crate::boxed(body))
}

/// The request-target to send upstream: the path and query as the client sent them.
fn target(uri: &Uri) -> &str {
    uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/")
}

/// Proxies `req` to `node` (see the module docs).
async fn forward(s: &Shared, req: Request<Body>, node: &Node) -> Response<Body> {
    let limit = s.opts.max_body;
    let declared =
        req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return error::too_large(limit);
    }
    let budget = timeout(s, req.headers());
    let (parts, body) = req.into_parts();
    let uri = match format!("http://{}{}", node.address, target(&parts.uri)).parse::<Uri>() {
        Ok(u) => u,
        Err(e) => return bad_node(node, &format!("its address does not make a URL: {e}")),
    };
    let mut out = Request::new(Limited::new(body, limit).map_err(BoxError::from).boxed());
    *out.method_mut() = parts.method.clone();
    *out.uri_mut() = uri;
    *out.headers_mut() = upstream_headers(&parts.headers, parts.extensions.get::<Peer>(), false);
    match tokio::time::timeout(budget, s.upstream.client.request(out)).await {
        Ok(Ok(rsp)) => downstream(rsp),
        Ok(Err(e)) if over_limit(&e) => error::too_large(limit),
        Ok(Err(e)) => bad_node(node, &chain(&e)),
        Err(_) => error::json(
            StatusCode::GATEWAY_TIMEOUT,
            GATEWAY_ID,
            format!("node {} of the service did not answer within {budget:?}", node.address),
        ),
    }
}

/// Whether a proxied request failed because its streamed body passed the gateway's limit.
fn over_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// An error and its causes, `: `-joined (hyper's own message is only the outermost).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The 502 for a node that failed.
fn bad_node(node: &Node, why: &str) -> Response<Body> {
    error::json(StatusCode::BAD_GATEWAY, GATEWAY_ID, format!("proxying to node {} ({}): {why}", node.address, node.id))
}

/// The websocket handshake through the gateway (see the module docs).
async fn websocket(s: &Shared, mut req: Request<Body>, node: &Node) -> Response<Body> {
    let budget = timeout(s, req.headers());
    let stream = match tokio::time::timeout(budget, tokio::net::TcpStream::connect(&node.address)).await {
        Ok(Ok(st)) => st,
        Ok(Err(e)) => return bad_node(node, &format!("connect: {e}")),
        Err(_) => return bad_node(node, &format!("connect: no answer within {budget:?}")),
    };
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
        Ok(pair) => pair,
        Err(e) => return bad_node(node, &chain(&e)),
    };
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "websocket upstream connection ended");
        }
    });
    let client_side = hyper::upgrade::on(&mut req);
    let mut out = Request::new(Empty::<Bytes>::new());
    *out.method_mut() = req.method().clone();
    *out.uri_mut() = match target(req.uri()).parse() {
        Ok(u) => u,
        Err(e) => return error::json(StatusCode::BAD_REQUEST, GATEWAY_ID, format!("request target: {e}")),
    };
    *out.headers_mut() = upstream_headers(req.headers(), req.extensions().get::<Peer>(), true);
    let mut rsp = match tokio::time::timeout(budget, sender.send_request(out)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return bad_node(node, &chain(&e)),
        Err(_) => {
            return error::json(
                StatusCode::GATEWAY_TIMEOUT,
                GATEWAY_ID,
                format!("node {} did not answer the websocket handshake within {budget:?}", node.address),
            )
        }
    };
    if rsp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return downstream(rsp);
    }
    let upstream_side = hyper::upgrade::on(&mut rsp);
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client_side, upstream_side) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "websocket upgrade failed");
                return;
            }
        };
        let (mut a, mut b) = (TokioIo::new(client), TokioIo::new(upstream));
        if let Err(e) = tokio::io::copy_bidirectional(&mut a, &mut b).await {
            tracing::debug!(error = %e, "websocket pipe ended");
        }
    });
    downstream(rsp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in list {
            h.append(HeaderName::from_bytes(k.as_bytes()).expect("name"), HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn websockets_are_told_by_both_headers() {
        assert!(is_websocket(&headers(&[("connection", "keep-alive, Upgrade"), ("upgrade", "WebSocket")])));
        assert!(!is_websocket(&headers(&[("connection", "upgrade"), ("upgrade", "h2c")])));
        assert!(!is_websocket(&headers(&[("upgrade", "websocket")])));
    }

    #[test]
    fn hop_by_hop_headers_stay_and_forwarded_ones_are_set() {
        let peer = Peer { addr: "192.0.2.7:4000".parse().expect("addr"), tls: true };
        let h = headers(&[
            ("host", "gw.example:8080"),
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "s"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "p"),
            ("x-forwarded-for", "198.51.100.1"),
            ("x-user", "u"),
        ]);
        let out = upstream_headers(&h, Some(&peer), false);
        for gone in ["connection", "x-secret", "keep-alive", "proxy-authorization"] {
            assert!(!out.contains_key(gone), "{gone}");
        }
        assert_eq!(out["host"], "gw.example:8080");
        assert_eq!(out["x-user"], "u");
        assert_eq!(out["x-forwarded-for"], "198.51.100.1, 192.0.2.7");
        assert_eq!(out["x-forwarded-host"], "gw.example:8080");
        assert_eq!(out["x-forwarded-proto"], "https");
        let ws = headers(&[("connection", "Upgrade"), ("upgrade", "websocket"), ("sec-websocket-key", "k")]);
        let out = upstream_headers(&ws, None, true);
        assert_eq!(out["connection"], "upgrade");
        assert_eq!(out["upgrade"], "websocket");
        assert_eq!(out["sec-websocket-key"], "k");
        assert_eq!(out["x-forwarded-proto"], "http");
        assert!(!out.contains_key("x-forwarded-for"));
    }
}
