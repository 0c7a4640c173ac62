//! The endpoint table: `Handler.Method` → handler, and the registry descriptions.

use super::stream::ServerStream;
use crate::error::Result;
use crate::registry::{Endpoint, Metadata, Value};
use crate::transport::Header;
use bytes::Bytes;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A unary handler: one request, one response or error.
pub type UnaryHandler = Arc<dyn Fn(Request) -> BoxFuture<Result<Response>> + Send + Sync>;

/// A stream handler: the opening request's metadata and the stream.
pub type StreamHandler = Arc<dyn Fn(Request, ServerStream) -> BoxFuture<Result<()>> + Send + Sync>;

/// A request as a handler sees it.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The service the caller addressed (`Micro-Service`).
    pub service: String,
    /// `Handler.Method`.
    pub endpoint: String,
    /// The body's content type (`application/protobuf` when the caller named none).
    pub content_type: String,
    /// Every request header (canonical keys) plus `Local` and `Remote`: go-micro's context
    /// metadata, to be passed on to outgoing calls.
    pub header: Header,
    /// The body, untouched.
    pub body: Bytes,
    /// When the caller stops waiting (from its `Timeout` header); pass it on with
    /// [`crate::CallOptions::from_request`] so nested calls get only what is left.
    pub deadline: Option<std::time::Instant>,
}

/// A handler's successful answer.
#[derive(Clone, Debug, Default)]
pub struct Response {
    /// The body, sent as is.
    pub body: Bytes,
    /// Its content type; the request's when `None`.
    pub content_type: Option<String>,
}

impl From<Bytes> for Response {
    fn from(body: Bytes) -> Self {
        Response { body, content_type: None }
    }
}

impl From<Vec<u8>> for Response {
    fn from(body: Vec<u8>) -> Self {
        Response { body: body.into(), content_type: None }
    }
}

impl From<&'static str> for Response {
    fn from(body: &'static str) -> Self {
        Response { body: Bytes::from_static(body.as_bytes()), content_type: None }
    }
}

#[derive(Clone)]
pub(crate) enum Kind {
    Unary(UnaryHandler),
    Stream(StreamHandler),
}

#[derive(Clone)]
pub(crate) struct Route {
    pub kind: Kind,
    pub endpoint: Endpoint,
}

/// Why a route lookup failed, in go-micro's words.
pub(crate) enum RouteError {
    IllFormed,
    NoService(String),
    NoMethod(String),
}

impl RouteError {
    pub fn detail(&self, endpoint: &str) -> String {
        match self {
            RouteError::IllFormed => format!("rpc: service/endpoint request ill-formed: {endpoint}"),
            RouteError::NoService(s) => format!("rpc: can't find service {s}"),
            RouteError::NoMethod(m) => format!("rpc: can't find method {m}"),
        }
    }
}

pub(crate) struct Router {
    routes: RwLock<HashMap<String, Route>>,
    /// Serves every call or stream no route names (a proxy's catch-all); not registered.
    fallback: RwLock<Fallback>,
    service: String,
}

/// A router's catch-alls: one for unary calls, one for streams.
#[derive(Default)]
struct Fallback {
    unary: Option<UnaryHandler>,
    stream: Option<StreamHandler>,
}

impl Router {
    pub fn new(service: String) -> Self {
        Router { routes: RwLock::default(), fallback: RwLock::default(), service }
    }

    fn insert(&self, endpoint: &str, route: Route) {
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        routes.insert(endpoint.to_string(), route);
    }

    pub fn add_unary(&self, endpoint: &str, h: UnaryHandler, request: Option<Value>, response: Option<Value>) {
        let ep = Endpoint { request, response, metadata: Metadata::new(), name: endpoint.to_string() };
        self.insert(endpoint, Route { kind: Kind::Unary(h), endpoint: ep });
    }

    pub fn add_stream(&self, endpoint: &str, h: StreamHandler) {
        let mut metadata = Metadata::new();
        metadata.insert("stream".into(), "true".into());
        let ep = Endpoint {
            request: Some(Value { name: "Context".into(), kind: "Context".into(), values: vec![] }),
            response: Some(Value { name: "Stream".into(), kind: "Stream".into(), values: vec![] }),
            metadata,
            name: endpoint.to_string(),
        };
        self.insert(endpoint, Route { kind: Kind::Stream(h), endpoint: ep });
    }

    pub fn set_metadata(&self, endpoint: &str, key: &str, value: &str) {
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = routes.get_mut(endpoint) {
            r.endpoint.metadata.insert(key.to_string(), value.to_string());
        }
    }

    pub fn set_fallback(&self, h: UnaryHandler) {
        self.fallback.write().unwrap_or_else(|p| p.into_inner()).unary = Some(h);
    }

    pub fn set_stream_fallback(&self, h: StreamHandler) {
        self.fallback.write().unwrap_or_else(|p| p.into_inner()).stream = Some(h);
    }

    pub fn remove(&self, endpoint: &str) {
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        routes.remove(endpoint);
    }

    pub fn endpoints(&self) -> Vec<Endpoint> {
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        let mut eps: Vec<Endpoint> = routes.values().map(|r| r.endpoint.clone()).collect();
        eps.sort_by(|a, b| a.name.cmp(&b.name));
        eps
    }

    /// Finds the handler for `Handler.Method`, with go-micro's three failure texts; an
    /// endpoint no route names goes to the catch-all of its kind (`stream`: the message
    /// opens a stream), if there is one. Only the handler is handed out, not the route's
    /// [`Endpoint`] description, which every request would otherwise copy.
    pub fn lookup(&self, endpoint: &str, stream: bool) -> std::result::Result<Kind, RouteError> {
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = routes.get(endpoint) {
            return Ok(r.kind.clone());
        }
        // Debug.Health and Debug.Stats keep the server's own answers (conn.rs) rather than
        // being forwarded.
        let fallback = self.fallback.read().unwrap_or_else(|p| p.into_inner());
        let kind = match (stream, &fallback.unary, &fallback.stream) {
            (false, Some(h), _) => Some(Kind::Unary(Arc::clone(h))),
            (true, _, Some(h)) => Some(Kind::Stream(Arc::clone(h))),
            _ => None,
        };
        if let (Some(kind), false) = (kind, matches!(endpoint, "Debug.Health" | "Debug.Stats")) {
            return Ok(kind);
        }
        let mut parts = endpoint.split('.');
        let (Some(handler), Some(method), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(RouteError::IllFormed);
        };
        if handler.is_empty() || method.is_empty() {
            return Err(RouteError::IllFormed);
        }
        let prefix = format!("{handler}.");
        if routes.keys().any(|k| k.starts_with(&prefix)) {
            Err(RouteError::NoMethod(method.to_string()))
        } else {
            Err(RouteError::NoService(handler.to_string()))
        }
    }

    pub fn service(&self) -> &str {
        &self.service
    }
}

#[cfg(test)]
mod tests {
    use super::{Kind, Router, StreamHandler, UnaryHandler};
    use std::sync::Arc;

    #[test]
    fn the_fallback_takes_unnamed_endpoints_but_not_debug_health_or_stats_and_is_not_listed() {
        let r = Router::new("svc".into());
        let h: UnaryHandler = Arc::new(|_req| Box::pin(async { Ok(super::Response::default()) }));
        assert!(r.lookup("Any.Thing", false).is_err());
        r.set_fallback(Arc::clone(&h));
        r.add_unary("Named.One", h, None, None);
        let Ok(kind) = r.lookup("Any.Thing", false) else { panic!("the fallback did not take Any.Thing") };
        assert!(matches!(kind, Kind::Unary(_)));
        assert!(r.lookup("Debug.Health", false).is_err());
        assert!(r.lookup("Debug.Stats", false).is_err());
        assert!(r.lookup("Any.Thing", true).is_err(), "a stream went to the unary catch-all");
        let s: StreamHandler = Arc::new(|_req, _stream| Box::pin(async { Ok(()) }));
        r.set_stream_fallback(s);
        let Ok(kind) = r.lookup("Any.Stream", true) else { panic!("the stream fallback did not take Any.Stream") };
        assert!(matches!(kind, Kind::Stream(_)));
        assert!(matches!(r.lookup("Any.Thing", false), Ok(Kind::Unary(_))));
        assert!(matches!(r.lookup("Named.One", true), Ok(Kind::Unary(_))), "a named route wins");
        assert_eq!(r.endpoints().iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["Named.One"]);
    }
}
