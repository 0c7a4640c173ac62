//! The client side of a sidecar's HTTP API (`micro --proxy_address=HOST:PORT`): for a machine
//! that reaches the sidecar's TCP port and nothing else of the mesh (spec P13).
//!
//! [`Remote`] is a [`Registry`] over `/registry` (list, get, register, deregister, and watch
//! over its websocket), and calls (`/rpc`), streams (`/rpc` as a websocket,
//! [`crate::handler::stream`]) and publishes (`/broker`) through the sidecar.

use super::SIDECAR_ID;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use micro::registry::{RegisterOptions, Registry, Service, Watcher};
use micro::{Error, Result};
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as Frame};

/// A sidecar's HTTP API, from outside the mesh.
#[derive(Clone)]
pub struct Remote {
    base: String,
    client: HttpClient<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl Remote {
    /// A client of the sidecar at `address` (`host:port`, or a `http://` URL); each request
    /// may take `timeout`.
    pub fn new(address: &str, timeout: Duration) -> Self {
        let base = if address.starts_with("http://") || address.starts_with("https://") {
            address.trim_end_matches('/').to_string()
        } else {
            format!("http://{}", address.trim_end_matches('/'))
        };
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        Remote { base, client: HttpClient::builder(TokioExecutor::new()).build(connector), timeout }
    }

    /// The sidecar's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send(&self, method: Method, path_query: &str, ct: &str, body: Bytes) -> Result<(StatusCode, Bytes)> {
        let url = format!("{}{path_query}", self.base);
        let req = Request::builder()
            .method(method)
            .uri(&url)
            .header(CONTENT_TYPE, ct)
            .body(Full::new(body))
            .map_err(|e| Error::bad_request(SIDECAR_ID, format!("{url}: {e}")))?;
        let exchange = async {
            let rsp = self.client.request(req).await.map_err(|e| {
                Error::new(micro::error::CLIENT_ID, format!("the sidecar at {} is unreachable: {e}", self.base), 503)
            })?;
            let status = rsp.status();
            let body =
                rsp.into_body().collect().await.map_err(|e| {
                    Error::internal(micro::error::CLIENT_ID, format!("reading the sidecar's answer: {e}"))
                })?;
            Ok((status, body.to_bytes()))
        };
        tokio::time::timeout(self.timeout, exchange).await.map_err(|_| {
            Error::timeout(
                micro::error::CLIENT_ID,
                format!("the sidecar at {} did not answer within {:?}", self.base, self.timeout),
            )
        })?
    }

    /// The answer's body on 2xx, else the go-micro error in it (or one made from the status).
    async fn expect(&self, method: Method, path_query: &str, ct: &str, body: Bytes) -> Result<Bytes> {
        let (status, body) = self.send(method, path_query, ct, body).await?;
        if status.is_success() {
            return Ok(body);
        }
        let text = String::from_utf8_lossy(&body);
        let e = Error::parse(text.trim());
        if e.code != 0 {
            return Err(e);
        }
        Err(Error::new(SIDECAR_ID, format!("{}: {}", status, text.trim()), i32::from(status.as_u16())))
    }

    /// Calls `service`'s `endpoint` with a JSON request through the sidecar's `/rpc`;
    /// `address` names one node.
    pub async fn call(&self, service: &str, endpoint: &str, request: &str, address: Option<&str>) -> Result<Bytes> {
        let request: serde_json::Value = serde_json::from_str(request)
            .map_err(|e| Error::bad_request(micro::error::CLIENT_ID, format!("the request is not JSON: {e}")))?;
        let mut body = serde_json::json!({"service": service, "endpoint": endpoint, "request": request});
        if let Some(a) = address {
            body["address"] = a.into();
        }
        self.expect(Method::POST, "/rpc", "application/json", Bytes::from(body.to_string())).await
    }

    /// Opens a bidirectional stream to `service`'s `endpoint` through the sidecar's `/rpc`
    /// websocket; messages are JSON. A service the sidecar cannot reach is the sidecar's
    /// error, before anything is sent.
    pub async fn stream(&self, service: &str, endpoint: &str) -> Result<(RemoteSend, RemoteRecv)> {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("service", service)
            .append_pair("endpoint", endpoint)
            .finish();
        let (sink, source) = self.websocket(&format!("/rpc?{q}")).await?.split();
        Ok((RemoteSend { sink }, RemoteRecv { source }))
    }

    /// A websocket to the sidecar's `path_query`; the sidecar's HTTP error when it refuses.
    async fn websocket(&self, path_query: &str) -> Result<Socket> {
        let Some(host) = self.base.strip_prefix("http://") else {
            return Err(Error::bad_request(
                micro::error::CLIENT_ID,
                format!("websockets to {} are not supported: only http:// sidecars", self.base),
            ));
        };
        let url = format!("ws://{host}{path_query}");
        let opened =
            tokio::time::timeout(self.timeout, tokio_tungstenite::connect_async(url.as_str())).await.map_err(|_| {
                Error::timeout(
                    micro::error::CLIENT_ID,
                    format!("the sidecar at {} did not answer within {:?}", self.base, self.timeout),
                )
            })?;
        match opened {
            Ok((ws, _)) => Ok(ws),
            Err(WsError::Http(rsp)) => {
                let text = String::from_utf8_lossy(rsp.body().as_deref().unwrap_or_default()).trim().to_string();
                let e = Error::parse(&text);
                Err(if e.code != 0 {
                    e
                } else {
                    Error::new(SIDECAR_ID, format!("{}: {text}", rsp.status()), i32::from(rsp.status().as_u16()))
                })
            }
            Err(e) => Err(Error::new(
                micro::error::CLIENT_ID,
                format!("the sidecar at {} is unreachable: {e}", self.base),
                503,
            )),
        }
    }

    /// Publishes `body` on `topic` through the sidecar's `/broker`.
    pub async fn publish(&self, topic: &str, content_type: &str, body: Bytes) -> Result<()> {
        let q: String = form_urlencoded::Serializer::new(String::new()).append_pair("topic", topic).finish();
        self.expect(Method::POST, &format!("/broker?{q}"), content_type, body).await.map(|_| ())
    }

    fn services(body: &[u8]) -> Result<Vec<Service>> {
        serde_json::from_slice(body).map_err(|e| {
            Error::internal(
                micro::error::CLIENT_ID,
                format!("the sidecar's /registry answer is not a service list: {e}"),
            )
        })
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The sending half of a stream through a sidecar.
pub struct RemoteSend {
    sink: SplitSink<Socket, Frame>,
}

impl RemoteSend {
    /// Sends one message (a text frame when it is UTF-8, else binary).
    pub async fn send(&mut self, body: impl Into<Bytes>) -> Result<()> {
        let body: Bytes = body.into();
        let frame = match std::str::from_utf8(&body) {
            Ok(text) if !text.is_empty() => Frame::text(text.to_string()),
            _ => Frame::Binary(body),
        };
        self.sink.send(frame).await.map_err(sending)
    }

    /// Ends the sending side (an empty text frame, go-micro's `CloseSend`); replies still come.
    pub async fn close_send(&mut self) -> Result<()> {
        self.sink.send(Frame::text(String::new())).await.map_err(sending)
    }
}

fn sending(e: WsError) -> Error {
    Error::new(micro::error::CLIENT_ID, format!("sending through the sidecar failed: {e}"), 503)
}

/// The receiving half of a stream through a sidecar.
pub struct RemoteRecv {
    source: SplitStream<Socket>,
}

impl RemoteRecv {
    /// The next message; `None` once the service ended the stream; the service's error
    /// (carried in the close frame) when it failed.
    pub async fn recv(&mut self) -> Result<Option<Bytes>> {
        loop {
            return match self.source.next().await {
                Some(Ok(Frame::Text(t))) => Ok(Some(Bytes::from(t.as_bytes().to_vec()))),
                Some(Ok(Frame::Binary(b))) => Ok(Some(b)),
                Some(Ok(Frame::Close(None))) => Ok(None),
                Some(Ok(Frame::Close(Some(c)))) if c.code == CloseCode::Normal => Ok(None),
                Some(Ok(Frame::Close(Some(c)))) => {
                    let e = Error::parse(&c.reason);
                    Err(if e.code != 0 {
                        e
                    } else {
                        Error::internal(SIDECAR_ID, format!("stream closed ({}): {}", c.code, c.reason))
                    })
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    Err(Error::new(micro::error::CLIENT_ID, format!("the sidecar's stream failed: {e}"), 503))
                }
                None => {
                    Err(Error::new(micro::error::CLIENT_ID, "the sidecar's stream ended without a close frame", 503))
                }
            };
        }
    }
}

#[async_trait]
impl Registry for Remote {
    async fn register(&self, service: &Service, opts: RegisterOptions) -> Result<()> {
        let body = serde_json::to_vec(service).unwrap_or_default();
        let path = format!("/registry?ttl={}s", opts.ttl.as_secs().max(1));
        self.expect(Method::POST, &path, "application/json", body.into()).await.map(|_| ())
    }

    async fn deregister(&self, service: &Service) -> Result<()> {
        let body = serde_json::to_vec(service).unwrap_or_default();
        self.expect(Method::DELETE, "/registry", "application/json", body.into()).await.map(|_| ())
    }

    async fn get_service(&self, name: &str) -> Result<Vec<Service>> {
        let q: String = form_urlencoded::Serializer::new(String::new()).append_pair("service", name).finish();
        match self.expect(Method::GET, &format!("/registry?{q}"), "application/json", Bytes::new()).await {
            Ok(body) => Self::services(&body),
            Err(e) if e.code == 404 => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    async fn list_services(&self) -> Result<Vec<Service>> {
        let body = self.expect(Method::GET, "/registry", "application/json", Bytes::new()).await?;
        Self::services(&body)
    }

    /// The sidecar's `/registry` websocket: each `{"Action","Service"}` frame is one event;
    /// the watcher ends when the socket does, and dropping it closes the socket.
    async fn watch(&self, service: Option<&str>) -> Result<Watcher> {
        let query = match service {
            Some(name) => {
                format!("?{}", form_urlencoded::Serializer::new(String::new()).append_pair("service", name).finish())
            }
            None => String::new(),
        };
        let (mut sink, mut source) = self.websocket(&format!("/registry{query}")).await?.split();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tx.closed() => break,
                    frame = source.next() => match frame {
                        Some(Ok(Frame::Text(t))) => match serde_json::from_str::<super::registry::WatchResult>(t.as_str()) {
                            Ok(r) => match super::registry::parse_action(&r.action) {
                                Some(action) => {
                                    if tx.send(micro::registry::Event { action, service: r.service }).is_err() {
                                        break;
                                    }
                                }
                                None => tracing::debug!(action = %r.action, "registry watch: unknown action skipped"),
                            },
                            Err(e) => tracing::debug!(error = %e, "registry watch: a frame that is not a result skipped"),
                        },
                        Some(Ok(_)) => {}
                        None | Some(Err(_)) => break,
                    },
                }
            }
            let _ = sink.send(Frame::Close(None)).await;
        });
        Ok(Watcher::new(rx))
    }

    fn name(&self) -> &'static str {
        "proxy"
    }
}
