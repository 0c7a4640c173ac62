//! Server-side streams: a C stream handler owns a `micro_server_stream` it reads and writes
//! from any thread, and ends with go-micro's EOS (`micro_server_stream_close`) or an error
//! (`micro_server_stream_close_error`).

use crate::boundary::{arg, arg_bytes, arg_mut, arg_str, boundary};
use crate::callback::{micro_free_fn, SendPtr};
use crate::error::{core_fail, fail, micro_error, FfiResult};
use crate::handle::export;
use crate::headers::{header_lookup, headers_from, Headers, Match};
use crate::message::micro_message;
use crate::runtime::free_in_runtime;
use crate::runtime::Rt;
use crate::server::{handler_args, micro_server, HandlerCtx};
use crate::status::{micro_status, MICRO_STATUS_CLOSED, MICRO_STATUS_INVALID_ARG};
use crate::stream::within;
use crate::view::{cstring, micro_bytes, micro_str, str_field};
use micro_core::server::{Request, ServerStream, StreamReceiver, StreamSender};
use std::ffi::{c_char, c_void, CString};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// How a stream ends: `Ok` is go-micro's EOS, `Err` an error frame.
type End = oneshot::Sender<micro_core::Result<()>>;

/// One stream of a stream endpoint, owned by the handler that received it (release with
/// `micro_server_stream_free`). Thread-safe: one thread may receive while others send.
/// The stream ends when the handler closes it — `micro_server_stream_close` (go-micro's
/// EOS) or `micro_server_stream_close_error` — or frees it (EOS, if not closed before).
pub struct micro_server_stream {
    rt: Arc<Rt>,
    service: CString,
    endpoint: CString,
    headers: Headers,
    tx: StreamSender,
    rx: tokio::sync::Mutex<StreamReceiver>,
    end: Mutex<Option<End>>,
}

impl micro_server_stream {
    fn take_end(&self) -> Option<End> {
        self.end.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn is_open(&self) -> bool {
        self.end.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }
}

/// A stream handler: receives `stream`, which it owns (see `micro_server_stream`). Runs on
/// a dispatch thread; may block (e.g. in `micro_server_stream_recv`) or hand the stream to
/// another thread and return.
pub type micro_stream_handler_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, stream: *mut micro_server_stream)>;

type StreamFn = unsafe extern "C" fn(*mut c_void, *mut micro_server_stream);

/// Serves the bidirectional stream endpoint `endpoint` (`"Greeter.Stream"`) with `handler`,
/// which gets one `micro_server_stream` per stream a client opens (go-micro's opening
/// placeholder message is not delivered). `userdata_free` (may be NULL) runs exactly once
/// with `userdata` after the last call of the handler, when it is replaced or the server is
/// gone. On error the hook is not kept and does not run.
#[no_mangle]
pub unsafe extern "C" fn micro_server_handle_stream(
    s: *mut micro_server,
    endpoint: *const c_char,
    handler: micro_stream_handler_fn,
    userdata: *mut c_void,
    userdata_free: micro_free_fn,
) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let (s, endpoint, f) = handler_args(s, endpoint, handler)?;
        let ctx: Arc<HandlerCtx<StreamFn>> = HandlerCtx::new(f, userdata, userdata_free, &s.rt);
        let rt = Arc::downgrade(&s.rt);
        let handle = move |req: Request, stream: ServerStream| {
            let (end_tx, end_rx) = oneshot::channel();
            let started = rt.upgrade().map(|rt| {
                let (tx, rx) = stream.split();
                let st = micro_server_stream {
                    rt: Arc::clone(&rt),
                    service: cstring(req.service),
                    endpoint: cstring(req.endpoint),
                    headers: headers_from(req.header),
                    tx,
                    rx: tokio::sync::Mutex::new(rx),
                    end: Mutex::new(Some(end_tx)),
                };
                let ctx = Arc::clone(&ctx);
                let job = Box::new(move || {
                    let ud: SendPtr = ctx.ud;
                    // SAFETY: `ctx.f` is the non-NULL stream handler registered with `ud`;
                    // the stream pointer is a fresh handle the handler now owns.
                    unsafe { (ctx.f)(ud.0, export(st)) };
                });
                rt.dispatch(job).is_ok()
            });
            async move {
                if started != Some(true) {
                    return Err(micro_core::Error::internal(micro_core::error::SERVER_ID, "the runtime is shut down"));
                }
                // A stream freed without closing drops its end: that is an EOS too.
                end_rx.await.unwrap_or(Ok(()))
            }
        };
        let _g = s.rt.handle.enter();
        s.server.handle_stream(&endpoint, handle);
        Ok(())
    })
}

/// The endpoint the client opened (`"Greeter.Stream"`), borrowed from `s`; `""` for NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_server_stream_endpoint(s: *const micro_server_stream) -> micro_str {
    str_field(s, |s| &s.endpoint)
}

/// The service the client addressed, borrowed from `s`; `""` for NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_server_stream_service(s: *const micro_server_stream) -> micro_str {
    str_field(s, |s| &s.service)
}

/// Looks a header of the opening request (go-micro metadata) up by name,
/// case-insensitively; `true` and `*value_out` (borrowed from `s`) when found.
#[no_mangle]
pub unsafe extern "C" fn micro_server_stream_header(
    s: *const micro_server_stream,
    key: *const c_char,
    value_out: *mut micro_str,
) -> bool {
    header_lookup(s, |s| &s.headers, key, value_out, Match::AnyCase)
}

/// Receives the client's next message, waiting at most `timeout_ms` (0 = no limit). On
/// success `*out` owns the message (`micro_message_free`), or is NULL once the client ended
/// its side (go-micro's EOS). `MICRO_STATUS_TIMEOUT` when nothing came in time; an error when
/// the connection is lost.
#[no_mangle]
pub unsafe extern "C" fn micro_server_stream_recv(
    s: *mut micro_server_stream,
    timeout_ms: u32,
    out: *mut *mut micro_message,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let s = arg(s, "stream")?;
        let out = arg_mut(out, "out")?;
        let got = s.rt.block_on(async {
            let mut rx = s.rx.lock().await;
            within(timeout_ms, rx.recv()).await
        })??;
        *out = micro_message::export_or_null(got.transpose().map_err(core_fail)?);
        Ok(())
    })
}

/// Sends one message to the client. `MICRO_STATUS_CLOSED` after the stream was closed.
#[no_mangle]
pub unsafe extern "C" fn micro_server_stream_send(
    s: *mut micro_server_stream,
    body: micro_bytes,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let s = arg(s, "stream")?;
        let body = arg_bytes(body, "body")?;
        if !s.is_open() {
            return Err(fail(MICRO_STATUS_CLOSED, "the stream is closed"));
        }
        s.rt.block_on(s.tx.send(body))?.map_err(core_fail)
    })
}

fn end(s: &micro_server_stream, outcome: micro_core::Result<()>) -> FfiResult<()> {
    let end = s.take_end().ok_or_else(|| fail(MICRO_STATUS_CLOSED, "the stream is already closed"))?;
    // The receiving side is gone only if the server dropped the stream (shutdown).
    end.send(outcome).map_err(|_| fail(MICRO_STATUS_CLOSED, "the server is gone"))
}

/// Ends the stream with go-micro's EOS (the client's receive sees the end). The handle
/// stays the caller's (free it); sending afterwards is `MICRO_STATUS_CLOSED`, as is a second
/// close.
#[no_mangle]
pub unsafe extern "C" fn micro_server_stream_close(
    s: *mut micro_server_stream,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || end(arg(s, "stream")?, Ok(())))
}

/// Ends the stream with a go-micro error (`code` 100..=599, `detail` text; the id is the
/// service name), which the client receives instead of further messages. As
/// `micro_server_stream_close` otherwise.
#[no_mangle]
pub unsafe extern "C" fn micro_server_stream_close_error(
    s: *mut micro_server_stream,
    code: i32,
    detail: *const c_char,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let s = arg(s, "stream")?;
        let detail = arg_str(detail, "detail")?;
        if !(100..=599).contains(&code) {
            return Err(fail(MICRO_STATUS_INVALID_ARG, format!("code {code} is not in 100..=599")));
        }
        let id = s.service.to_string_lossy().into_owned();
        end(s, Err(micro_core::Error::new(id, detail, code)))
    })
}

/// Releases the stream, ending it with go-micro's EOS if it was not closed. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_server_stream_free(s: *mut micro_server_stream) {
    free_in_runtime(s, |s| Arc::clone(&s.rt))
}
