//! `micro_stream`: a bidirectional client stream (go-micro's `client.Stream`) opened through
//! a `micro_client`, with blocking send, close-send and receive.

use crate::boundary::{arg, arg_bytes, arg_mut, arg_str, boundary};
use crate::call_options::micro_call_options;
use crate::client::micro_client;
use crate::error::{core_fail, fail, micro_error, FfiResult};
use crate::handle::export;
use crate::message::micro_message;
use crate::runtime::free_in_runtime;
use crate::runtime::Rt;
use crate::status::{micro_status, MICRO_STATUS_CLOSED, MICRO_STATUS_TIMEOUT};
use crate::view::micro_bytes;
use micro_core::ClientStream;
use std::ffi::c_char;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A bidirectional client stream (go-micro `client.Stream`). Its functions block; use one
/// thread for sending and one for receiving, or one thread for both.
pub struct micro_stream {
    rt: Arc<Rt>,
    send: tokio::sync::Mutex<Option<micro_core::client::StreamSendHalf>>,
    recv: tokio::sync::Mutex<Option<micro_core::client::StreamRecvHalf>>,
    _pin: Mutex<()>,
}

/// Opens a stream to `service`'s `endpoint`. `options` may be NULL. Release with
/// `micro_stream_free` (which closes it).
#[no_mangle]
pub unsafe extern "C" fn micro_client_stream(
    c: *mut micro_client,
    service: *const c_char,
    endpoint: *const c_char,
    options: *const micro_call_options,
    out: *mut *mut micro_stream,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let c = arg(c, "client")?;
        let service = arg_str(service, "service")?;
        let endpoint = arg_str(endpoint, "endpoint")?;
        let out = arg_mut(out, "out")?;
        let opts = options.as_ref().map(|o| o.inner.clone()).unwrap_or_default();
        let s: ClientStream = c.rt.block_on(c.client.stream(&service, &endpoint, &opts))?.map_err(core_fail)?;
        let (tx, rx) = s.split();
        *out = export(micro_stream {
            rt: Arc::clone(&c.rt),
            send: tokio::sync::Mutex::new(Some(tx)),
            recv: tokio::sync::Mutex::new(Some(rx)),
            _pin: Mutex::new(()),
        });
        Ok(())
    })
}

/// Sends one message on the stream.
#[no_mangle]
pub unsafe extern "C" fn micro_stream_send(
    s: *mut micro_stream,
    body: micro_bytes,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let s = arg(s, "stream")?;
        let body = arg_bytes(body, "body")?;
        s.rt.block_on(async {
            match s.send.lock().await.as_mut() {
                Some(tx) => tx.send(body).await.map_err(core_fail),
                None => Err(fail(MICRO_STATUS_CLOSED, "the sending side is closed")),
            }
        })?
    })
}

/// Tells the server nothing more will be sent (go-micro's end of stream).
#[no_mangle]
pub unsafe extern "C" fn micro_stream_close_send(s: *mut micro_stream, err: *mut *mut micro_error) -> micro_status {
    boundary(err, || {
        let s = arg(s, "stream")?;
        s.rt.block_on(async {
            match s.send.lock().await.take() {
                Some(mut tx) => tx.close_send().await.map_err(core_fail),
                None => Ok(()),
            }
        })?
    })
}

/// Receives the next message, waiting at most `timeout_ms` (0 = no limit). On success
/// `*out` owns the message, or is NULL when the server ended the stream.
#[no_mangle]
pub unsafe extern "C" fn micro_stream_recv(
    s: *mut micro_stream,
    timeout_ms: u32,
    out: *mut *mut micro_message,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let s = arg(s, "stream")?;
        let out = arg_mut(out, "out")?;
        let got = s.rt.block_on(async {
            let mut guard = s.recv.lock().await;
            let Some(rx) = guard.as_mut() else { return Ok(None) };
            within(timeout_ms, rx.recv()).await?.map_err(core_fail)
        })??;
        *out = micro_message::export_or_null(got);
        Ok(())
    })
}

/// Waits for a stream message at most `timeout_ms` (0 = no limit).
pub(crate) async fn within<T>(timeout_ms: u32, fut: impl std::future::Future<Output = T>) -> FfiResult<T> {
    if timeout_ms == 0 {
        return Ok(fut.await);
    }
    tokio::time::timeout(Duration::from_millis(u64::from(timeout_ms)), fut)
        .await
        .map_err(|_| fail(MICRO_STATUS_TIMEOUT, "no stream message within the timeout"))
}

/// Closes and releases a stream; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_stream_free(s: *mut micro_stream) {
    free_in_runtime(s, |s| Arc::clone(&s.rt))
}
