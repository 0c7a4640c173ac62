//! `NativeClient`, `NativeClientStream` and `NativeRegistry`: calls, streams, publishing and
//! registry queries, each a Promise settled on the JS thread.

use crate::{block, err, millis, to_js};
use bytes::Bytes;
use micro::client::{StreamRecvHalf, StreamSendHalf};
use micro::config::Config;
use micro::registry::{self, Registry as CoreRegistry};
use micro::selector::Strategy;
use micro::{CallOptions, Client as CoreClient, Reply};
use napi::bindgen_prelude::{Buffer, Either, PromiseRaw, ToNapiValue};
use napi::sys;
use napi::Env;
use napi_derive::napi;
use std::collections::HashMap;
use std::sync::Arc;

/// Client options; each unset one falls back to go-micro's environment variable
/// (`MICRO_REGISTRY`, `MICRO_CLIENT_RETRIES`, `MICRO_CLIENT_REQUEST_TIMEOUT` …).
#[napi(object)]
pub struct NativeClientOptions {
    /// Registry URL: `mdns`, `memory`.
    pub registry: Option<String>,
    /// Default content type of requests.
    pub content_type: Option<String>,
    /// Default budget of a whole call (all attempts) in milliseconds.
    pub request_timeout: Option<f64>,
    /// Default retries after a failed attempt.
    pub retries: Option<u32>,
    /// Idle connections kept per address.
    pub pool_size: Option<u32>,
    /// How a node is picked among a service's nodes: `random` (go-micro's default) or
    /// `roundrobin` (`MICRO_SELECTOR`).
    pub selector: Option<String>,
    /// Broker URL for `publish`: `http`, `memory`, `nats://host:4222`.
    pub broker: Option<String>,
}

/// Options of one call or stream.
#[napi(object)]
pub struct NativeCallOptions {
    /// Content type of the body.
    pub content_type: Option<String>,
    /// Per-attempt timeout in milliseconds (sent as go-micro's `Timeout` header).
    pub timeout: Option<f64>,
    /// Budget of the whole call (all attempts) in milliseconds.
    pub request_timeout: Option<f64>,
    /// Retries after a failed attempt.
    pub retries: Option<u32>,
    /// Re-send after a timed-out attempt too (only for endpoints safe to run twice).
    pub retry_timeouts: Option<bool>,
    /// Headers sent with the call.
    pub metadata: Option<HashMap<String, String>>,
    /// Explicit `host:port` addresses, bypassing the registry.
    pub address: Option<Vec<String>>,
}

/// A reply: raw body, its content type, headers and the node that answered.
#[napi(object)]
pub struct NativeReply {
    /// The body as the server sent it.
    pub body: Buffer,
    /// The body's content type.
    pub content_type: String,
    /// Reply headers.
    pub header: HashMap<String, String>,
    /// The node that answered.
    pub node: String,
}

/// What [`NativeClient::call_body`] resolves to.
pub enum BodyReply {
    /// The text of a JSON reply: a JS string, parsed on the JS side.
    Json(Bytes),
    /// Any other reply, whole, decoded on the JS side as `Client.call` always did.
    Other(NativeReply),
}

impl BodyReply {
    /// `r` as its text when it is JSON of the request's content type (`asked`) and UTF-8:
    /// the JS side then knows the content type its errors name.
    fn of(r: Reply, asked: Option<&str>) -> Self {
        let json = asked == Some(r.content_type.as_str())
            && micro::host::body::kind(&r.content_type) == micro::host::body::BodyKind::Json
            && std::str::from_utf8(&r.body).is_ok();
        if json {
            return BodyReply::Json(r.body);
        }
        BodyReply::Other(NativeReply::from(r))
    }
}

impl ToNapiValue for BodyReply {
    unsafe fn to_napi_value(env: sys::napi_env, v: Self) -> napi::Result<sys::napi_value> {
        match v {
            BodyReply::Json(text) => {
                // SAFETY: `of` checked that `text` is UTF-8; on the JS thread with its env
                // (napi copies the text into a JS string).
                unsafe { <&str>::to_napi_value(env, std::str::from_utf8_unchecked(&text)) }
            }
            // SAFETY: on the JS thread with its env.
            BodyReply::Other(r) => unsafe { NativeReply::to_napi_value(env, r) },
        }
    }
}

impl From<Reply> for NativeReply {
    fn from(r: Reply) -> Self {
        NativeReply {
            body: Buffer::from(r.body.to_vec()),
            content_type: r.content_type,
            header: r.header.into_iter().collect(),
            node: r.node,
        }
    }
}

/// The selector strategy the `selector` option names: `random` or `roundrobin` (as `MICRO_SELECTOR`).
fn strategy(name: &str) -> napi::Result<Strategy> {
    Strategy::from_name(name)
        .ok_or_else(|| err(400, format!("selector must be \"random\" or \"roundrobin\", got {name:?}")))
}

fn call_options(o: Option<NativeCallOptions>) -> napi::Result<CallOptions> {
    let o = o.unwrap_or(NativeCallOptions {
        content_type: None,
        timeout: None,
        request_timeout: None,
        retries: None,
        retry_timeouts: None,
        metadata: None,
        address: None,
    });
    Ok(CallOptions {
        address: o.address.unwrap_or_default(),
        content_type: o.content_type.filter(|c| !c.is_empty()),
        timeout: millis(o.timeout, "timeout")?,
        request_timeout: millis(o.request_timeout, "requestTimeout")?,
        retries: o.retries,
        retry_timeouts: o.retry_timeouts.unwrap_or(false),
        metadata: o.metadata.unwrap_or_default().into_iter().collect(),
        ..Default::default()
    })
}

/// Where a call of `client` starts: on the JS thread's own runtime when the client can drive
/// there ([`micro::Client::drives_on_any_thread`]), else its first poll on the JS thread.
fn start_for(client: &CoreClient) -> crate::bridge::Start {
    if client.drives_on_any_thread() {
        crate::bridge::Start::Owned
    } else {
        crate::bridge::Start::Here
    }
}

fn check_names(service: &str, endpoint: &str) -> napi::Result<()> {
    micro::host::check::service(service).map_err(to_js)?;
    micro::host::check::endpoint(endpoint).map_err(to_js)
}

/// An RPC client.
#[napi]
pub struct NativeClient {
    client: CoreClient,
}

impl NativeClient {
    pub(crate) fn from_core(client: CoreClient) -> Self {
        NativeClient { client }
    }
}

#[napi]
impl NativeClient {
    /// A client with its own registry and broker.
    #[napi(constructor)]
    pub fn new(opts: Option<NativeClientOptions>) -> napi::Result<Self> {
        let o = opts.unwrap_or(NativeClientOptions {
            registry: None,
            content_type: None,
            request_timeout: None,
            retries: None,
            pool_size: None,
            selector: None,
            broker: None,
        });
        let mut b = CoreClient::builder();
        if let Some(ct) = o.content_type.filter(|c| !c.is_empty()) {
            b = b.content_type(ct);
        }
        if let Some(t) = millis(o.request_timeout, "requestTimeout")? {
            b = b.request_timeout(t);
        }
        if let Some(r) = o.retries {
            b = b.retries(r);
        }
        if let Some(p) = o.pool_size {
            b = b.pool_size(p as usize);
        }
        if let Some(s) = &o.selector {
            b = b.strategy(strategy(s)?);
        }
        if let Some(url) = o.registry {
            b = b.registry_url(url);
        }
        if let Some(url) = o.broker {
            b = b.broker_url(url);
        }
        let client = block(async move { b.build().await.map_err(to_js) })?;
        Ok(NativeClient { client })
    }

    /// Calls `service`'s `endpoint` with a raw body.
    #[napi]
    pub fn call<'env>(
        &self,
        env: &'env Env,
        service: String,
        endpoint: String,
        body: Buffer,
        opts: Option<NativeCallOptions>,
    ) -> napi::Result<PromiseRaw<'env, NativeReply>> {
        check_names(&service, &endpoint)?;
        let opts = call_options(opts)?;
        let body = Bytes::copy_from_slice(&body);
        let client = self.client.clone();
        let how = start_for(&client);
        let call = async move {
            // Boxed: the call's state (3.4 KB) is then written once, not copied with every
            // move of the future on its way into a task.
            let r = Box::pin(client.call(&service, &endpoint, body, &opts)).await.map_err(to_js)?;
            Ok(NativeReply::from(r))
        };
        crate::bridge::spawn_with(env, call, how)
    }

    /// `call` for a caller that reads only the reply's body (`Client.call`), with the
    /// common options as arguments rather than read off an object: the body is a JSON text
    /// or raw bytes; the promise resolves to the reply's text when the reply is JSON of the
    /// request's content type and valid UTF-8 (parsed on the JS side, whose errors it keeps),
    /// else to the whole reply. No header object, no node string and no Buffer is made for
    /// the body a JSON caller parses anyway (issue 18: the JS thread's cost a call).
    #[napi]
    #[allow(clippy::too_many_arguments)] // the JS function's positional arguments
    pub fn call_body<'env>(
        &self,
        env: &'env Env,
        service: String,
        endpoint: String,
        body: Either<String, Buffer>,
        content_type: String,
        address: Option<Vec<String>>,
        opts: Option<NativeCallOptions>,
    ) -> napi::Result<PromiseRaw<'env, BodyReply>> {
        check_names(&service, &endpoint)?;
        let mut opts = call_options(opts)?;
        if let Some(a) = address {
            opts.address = a;
        }
        opts.content_type = Some(content_type).filter(|c| !c.is_empty());
        let body = match body {
            Either::A(text) => Bytes::from(text.into_bytes()),
            Either::B(buf) => Bytes::copy_from_slice(&buf),
        };
        let client = self.client.clone();
        let how = start_for(&client);
        let call = async move {
            // Boxed, as in `call`.
            let r = Box::pin(client.call(&service, &endpoint, body, &opts)).await.map_err(to_js)?;
            Ok(BodyReply::of(r, opts.content_type.as_deref()))
        };
        crate::bridge::spawn_with(env, call, how)
    }

    /// Opens a bidirectional stream.
    #[napi]
    pub fn stream<'env>(
        &self,
        env: &'env Env,
        service: String,
        endpoint: String,
        opts: Option<NativeCallOptions>,
    ) -> napi::Result<PromiseRaw<'env, NativeClientStream>> {
        check_names(&service, &endpoint)?;
        let opts = call_options(opts)?;
        let client = self.client.clone();
        crate::bridge::spawn(env, async move {
            let s = client.stream(&service, &endpoint, &opts).await.map_err(to_js)?;
            let node = s.node().to_string();
            let (tx, rx) = s.split();
            Ok(NativeClientStream {
                tx: Arc::new(tokio::sync::Mutex::new(Some(tx))),
                rx: Arc::new(tokio::sync::Mutex::new(Some(rx))),
                node,
            })
        })
    }

    /// Publishes a raw body on `topic`; resolves once the broker took it.
    #[napi]
    pub fn publish<'env>(
        &self,
        env: &'env Env,
        topic: String,
        body: Buffer,
        content_type: Option<String>,
        metadata: Option<HashMap<String, String>>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        micro::host::check::topic(&topic, None).map_err(to_js)?;
        let opts = micro::PublishOptions {
            content_type: content_type.filter(|c| !c.is_empty()),
            metadata: metadata.unwrap_or_default().into_iter().collect(),
        };
        let body = Bytes::copy_from_slice(&body);
        let client = self.client.clone();
        crate::bridge::spawn(env, async move { client.publish(&topic, body, &opts).await.map_err(to_js) })
    }
}

/// An open bidirectional stream.
#[napi]
pub struct NativeClientStream {
    tx: Arc<tokio::sync::Mutex<Option<StreamSendHalf>>>,
    rx: Arc<tokio::sync::Mutex<Option<StreamRecvHalf>>>,
    node: String,
}

fn stream_closed() -> napi::Error {
    err(499, "the stream is closed")
}

#[napi]
impl NativeClientStream {
    /// The id of the node serving the stream.
    #[napi(getter)]
    pub fn node(&self) -> String {
        self.node.clone()
    }

    /// Sends one message.
    #[napi]
    pub fn send<'env>(&self, env: &'env Env, body: Buffer) -> napi::Result<PromiseRaw<'env, ()>> {
        let tx = Arc::clone(&self.tx);
        let body = Bytes::copy_from_slice(&body);
        crate::bridge::spawn(env, async move {
            match tx.lock().await.as_mut() {
                Some(t) => t.send(body).await.map_err(to_js),
                None => Err(stream_closed()),
            }
        })
    }

    /// The next message, or `null` once the server ended the stream.
    #[napi]
    pub fn recv<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, Option<Buffer>>> {
        let rx = Arc::clone(&self.rx);
        crate::bridge::spawn(env, async move {
            match rx.lock().await.as_mut() {
                Some(r) => Ok(r.recv().await.map_err(to_js)?.map(|b| Buffer::from(b.to_vec()))),
                None => Ok(None),
            }
        })
    }

    /// Sends the client's end of stream; receiving continues.
    #[napi]
    pub fn close_send<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let tx = Arc::clone(&self.tx);
        crate::bridge::spawn(env, async move {
            match tx.lock().await.as_mut() {
                Some(t) => t.close_send().await.map_err(to_js),
                None => Ok(()),
            }
        })
    }

    /// Closes both halves: pending and later `recv`s give `null`, `send`s fail.
    #[napi]
    pub fn close<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let tx = Arc::clone(&self.tx);
        let rx = Arc::clone(&self.rx);
        crate::bridge::spawn(env, async move {
            if let Some(mut t) = tx.lock().await.take() {
                let _ = t.close_send().await;
            }
            rx.lock().await.take();
            Ok(())
        })
    }
}

/// A registry opened by URL (`mdns`, `memory`).
#[napi]
pub struct NativeRegistry {
    reg: Arc<dyn CoreRegistry>,
}

impl NativeRegistry {
    /// A registry object over an existing registry (a service's own).
    pub(crate) fn from_core(reg: Arc<dyn CoreRegistry>) -> Self {
        NativeRegistry { reg }
    }
}

#[napi]
impl NativeRegistry {
    /// Opens the registry `url` (default: `MICRO_REGISTRY`, else mDNS).
    #[napi(constructor)]
    pub fn new(url: Option<String>) -> napi::Result<Self> {
        let url = match url.filter(|u| !u.is_empty()) {
            Some(u) => u,
            None => Config::from_env().map_err(to_js)?.registry_url(),
        };
        let reg = block(async move { registry::from_url(&url).await.map_err(to_js) })?;
        Ok(NativeRegistry { reg })
    }

    /// Every instance of `name`, as go-micro's registry JSON.
    #[napi]
    pub fn get_service<'env>(&self, env: &'env Env, name: String) -> napi::Result<PromiseRaw<'env, String>> {
        let reg = Arc::clone(&self.reg);
        crate::bridge::spawn(env, async move {
            let s = reg.get_service(&name).await.map_err(to_js)?;
            serde_json::to_string(&s).map_err(|e| err(500, e.to_string()))
        })
    }

    /// Every service known, as go-micro's registry JSON.
    #[napi]
    pub fn list_services<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, String>> {
        let reg = Arc::clone(&self.reg);
        crate::bridge::spawn(env, async move {
            let s = reg.list_services().await.map_err(to_js)?;
            serde_json::to_string(&s).map_err(|e| err(500, e.to_string()))
        })
    }
}
