//! `micro.node`: the thin napi-rs layer under the npm package `micro`.
//!
//! The rule (ffi-patterns §3.3): no JavaScript runs on the library's tokio threads. Every
//! operation is a Promise settled by napi on the JS thread, and the server side is pull:
//! `NativeService.nextRequests()` resolves with a batch of calls (or an empty batch once the
//! service is stopped) that the JS layer dispatches on the event loop. A pending
//! `nextRequests()` is what keeps the process alive while a service is open, exactly like a
//! listening `net.Server`; `stop()` resolves it empty, so Node exits by itself.
//!
//! Core bridging lives in this crate (`service.rs`, same shape as the Python binding's
//! pull queue). Errors leave as a JS `Error` whose message is `MICRO_ERROR` followed by the
//! go-micro error's JSON; `lib/errors.js` turns them into `MicroError`.

#![deny(clippy::all)]

mod bridge;
mod client;
mod here;
pub mod log;
mod service;
mod uv;

/// mimalloc for the library's own allocations (each request's head, headers and body are
/// allocated on the runtime threads and freed there or on the JS thread): served with it,
/// 1.09× pinned and 0.99–1.02× unpinned (wrk and our loadgen at c=64, median of 3).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use napi::{Error as NapiError, Status};
use napi_derive::napi;
use std::time::Duration;

/// The id of errors raised by this layer itself (closed objects, bad arguments).
pub(crate) const NODE_ID: &str = "micro.node";

/// The prefix of every error message carrying a go-micro error as JSON.
pub(crate) const ERROR_PREFIX: &str = "MICRO_ERROR";

/// Converts a go-micro error into the JS error `lib/errors.js` maps to `MicroError`.
pub(crate) fn to_js(e: micro::Error) -> NapiError {
    let json = serde_json::json!({ "id": e.id, "code": e.code, "detail": e.detail, "status": e.status });
    NapiError::new(Status::GenericFailure, format!("{ERROR_PREFIX}{json}"))
}

/// An error raised by this layer with the given code.
pub(crate) fn err(code: i32, detail: impl Into<String>) -> NapiError {
    to_js(micro::Error::new(NODE_ID, detail, code))
}

/// A positive number of milliseconds as a duration (`None` stays `None`).
pub(crate) fn millis(v: Option<f64>, what: &str) -> napi::Result<Option<Duration>> {
    match v {
        None => Ok(None),
        Some(ms) if ms.is_finite() && ms > 0.0 && ms < 1e15 => Ok(Some(Duration::from_secs_f64(ms / 1000.0))),
        Some(ms) => Err(err(400, format!("{what} must be a positive number of milliseconds, got {ms}"))),
    }
}

/// Runs `fut` to completion on the calling (JS) thread, on napi's runtime. Only for short
/// set-up work (opening a registry), never for calls.
pub(crate) fn block<T>(fut: impl std::future::Future<Output = napi::Result<T>>) -> napi::Result<T> {
    napi::bindgen_prelude::block_on(fut)
}

/// How the JS thread's own calls go, for tests: `[pumps, watched, answered, taken]`, the
/// times it turned its runtime for a readable socket or a tick, the sockets of that runtime
/// libuv watches now, the times such a turn settled what finished itself (no bell rung), and
/// the batches `nextRequests` took from a service's queue on the JS thread (no runtime thread
/// waited for them).
#[napi]
pub fn here_stats() -> Vec<f64> {
    let (pumps, watched) = here::stats();
    vec![pumps as f64, watched as f64, bridge::answered() as f64, service::taken() as f64]
}

/// The library version.
#[napi]
pub fn version() -> &'static str {
    micro::VERSION
}

/// Go's `http.StatusText(code)`: the `status` go-micro's `errors.New` gives a code (`""`
/// for codes Go does not name).
#[napi]
pub fn status_text(code: i32) -> &'static str {
    micro::error::status_text(code)
}

/// The kind of body `contentType` carries — `"json"`, `"text"` or `"bytes"` — by the one
/// table every host follows (`micro::host::body`). `lib/body.js` memoizes it per content
/// type, so a message pays no call here.
#[napi]
pub fn body_kind(content_type: String) -> &'static str {
    micro::host::body::kind(&content_type).as_str()
}

/// A go-micro error as `lib/errors.js` builds a `MicroError` from it.
#[napi(object)]
pub struct NativeErrorParts {
    /// go-micro's `id`: who raised it.
    pub id: String,
    /// go-micro's `code` (an HTTP status).
    pub code: i32,
    /// go-micro's `detail`: what went wrong.
    pub detail: String,
    /// go-micro's `status`: the code's text.
    pub status: String,
}

/// The go-micro error for a body that says JSON (`contentType`) and does not parse (`why`):
/// 400 when `side` is `"request"` (the caller sent it), 500 when `"reply"` (the service
/// answered it).
#[napi]
pub fn invalid_json(side: String, content_type: String, why: String) -> napi::Result<NativeErrorParts> {
    use micro::host::body::Side;
    let side = match side.as_str() {
        "request" => Side::Request,
        "reply" => Side::Reply,
        other => return Err(err(400, format!("side must be 'request' or 'reply', got {other:?}"))),
    };
    let e = micro::host::body::invalid_json(NODE_ID, side, &content_type, &why);
    Ok(NativeErrorParts { id: e.id, code: e.code, detail: e.detail, status: e.status })
}
