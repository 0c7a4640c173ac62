//! Publishing: `micro_publish_options`, `micro_client_publish` (go-micro's
//! `client.Publish`) and `micro_broker_publish` (go-micro's `broker.Publish`).

use crate::boundary::set_option;
use crate::boundary::{arg, arg_bytes, arg_str, boundary};
use crate::broker::{check_topic, micro_broker};
use crate::client::micro_client;
use crate::error::{core_fail, fail, micro_error};
use crate::handle::{free_handle, new_handle};
use crate::headers::check_header_name;
use crate::status::{micro_status, MICRO_STATUS_ILLEGAL_STATE, MICRO_STATUS_INVALID_ARG};
use crate::view::micro_bytes;
use micro_core::PublishOptions;
use std::ffi::c_char;
use std::sync::Arc;

/// Publish options; a builder owned by the caller (not thread-safe), copied by
/// `micro_client_publish` and `micro_broker_publish`.
pub struct micro_publish_options {
    inner: PublishOptions,
}

/// New publish options (content type: the client's, `application/json` by default).
#[no_mangle]
pub extern "C" fn micro_publish_options_new() -> *mut micro_publish_options {
    new_handle(|| micro_publish_options { inner: PublishOptions::default() })
}

/// Releases publish options; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_publish_options_free(o: *mut micro_publish_options) {
    free_handle(o)
}

/// The message's content type (`"application/json"`, `"application/octet-stream"` …).
#[no_mangle]
pub unsafe extern "C" fn micro_publish_options_set_content_type(
    o: *mut micro_publish_options,
    ct: *const c_char,
) -> micro_status {
    let input = || {
        let ct = arg_str(ct, "content_type")?;
        if ct.is_empty() {
            return Err(fail(MICRO_STATUS_INVALID_ARG, "content_type is empty"));
        }
        Ok(ct)
    };
    set_option(o, input, |o, ct| o.inner.content_type = Some(ct))
}

/// Adds a message header (go-micro metadata); the key travels exactly as given.
#[no_mangle]
pub unsafe extern "C" fn micro_publish_options_set_header(
    o: *mut micro_publish_options,
    key: *const c_char,
    value: *const c_char,
) -> micro_status {
    let input = || {
        let (key, value) = (arg_str(key, "key")?, arg_str(value, "value")?);
        check_header_name(&key)?;
        Ok((key, value))
    };
    set_option(o, input, |o, (k, v)| {
        o.inner.metadata.insert(k, v);
    })
}

/// Publishes `body` on `topic` as go-micro's `client.Publish` (headers: yours plus
/// `Content-Type`, `Micro-Topic`, `Micro-ID`). `options` may be NULL. Returns once the
/// broker took the message (the http broker delivers asynchronously). Errors:
/// `MICRO_STATUS_TOO_LARGE` over the message size limit, `MICRO_STATUS_NOT_FOUND` when the
/// http broker knows no subscriber of any topic, `MICRO_STATUS_ILLEGAL_STATE` without a broker.
#[no_mangle]
pub unsafe extern "C" fn micro_client_publish(
    c: *mut micro_client,
    topic: *const c_char,
    body: micro_bytes,
    options: *const micro_publish_options,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let c = arg(c, "client")?;
        let topic = arg_str(topic, "topic")?;
        let body = arg_bytes(body, "body")?;
        check_topic(&topic, None)?;
        if c.client.broker().is_none() {
            return Err(fail(
                MICRO_STATUS_ILLEGAL_STATE,
                "the client has no broker: use micro_client_set_broker or a micro_service",
            ));
        }
        let opts = options.as_ref().map(|o| o.inner.clone()).unwrap_or_default();
        c.rt.block_on(c.client.publish(&topic, body, &opts))?.map_err(core_fail)
    })
}

/// Publishes `body` on `topic` straight through the broker (go-micro's `broker.Publish`):
/// the message carries exactly the headers of `options` (its `set_header`s, plus
/// `Content-Type` when `set_content_type` was used) — no `Micro-ID`, and `Micro-Topic` only
/// where the broker adds it itself (the http broker does, as go-micro's). `options` may be
/// NULL (no headers). Connects the broker if needed. Errors as `micro_client_publish`:
/// `MICRO_STATUS_TOO_LARGE` over the broker's size limit, `MICRO_STATUS_NOT_FOUND` when the
/// http broker knows no subscriber, `MICRO_STATUS_CLOSED` after the runtime's shutdown.
#[no_mangle]
pub unsafe extern "C" fn micro_broker_publish(
    b: *mut micro_broker,
    topic: *const c_char,
    body: micro_bytes,
    options: *const micro_publish_options,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let b = arg(b, "broker")?;
        let topic = arg_str(topic, "topic")?;
        let body = arg_bytes(body, "body")?;
        check_topic(&topic, None)?;
        let mut message = micro_core::broker::Message::new(body);
        if let Some(o) = options.as_ref() {
            message.header.extend(o.inner.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
            if let Some(ct) = &o.inner.content_type {
                message.header.insert("Content-Type".into(), ct.clone());
            }
        }
        let broker = Arc::clone(&b.broker);
        b.rt.block_on(async move {
            broker.connect().await?;
            broker.publish(&topic, message).await
        })?
        .map_err(core_fail)
    })
}
