//! `micro_client` and its options: an RPC client finding services in a registry. Calls are
//! in `call`, client streams in `stream`, publishing in `publish`.

use crate::boundary::{arg, arg_mut, boundary, timeout_ms};
use crate::boundary::{set_option, set_str_option};
use crate::error::{core_fail, fail, micro_error};
use crate::handle::{export, free_handle, new_handle};
use crate::registry::micro_registry;
use crate::runtime::{micro_runtime, Rt};
use crate::status::{micro_status, MICRO_STATUS_INVALID_ARG};
use micro_core::selector::Strategy;
use micro_core::{Client, ClientOptions};
use std::ffi::c_char;
use std::sync::Arc;

/// Client options; a builder owned by the caller (not thread-safe).
pub struct micro_client_options {
    inner: ClientOptions,
}

/// New client options with go-micro's defaults (JSON, 5 retries, 5 s per attempt, 30 s per call).
#[no_mangle]
pub extern "C" fn micro_client_options_new() -> *mut micro_client_options {
    new_handle(|| micro_client_options { inner: ClientOptions::default() })
}

/// Releases client options; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_client_options_free(o: *mut micro_client_options) {
    free_handle(o)
}

/// Default content type of requests (e.g. `"application/json"`).
#[no_mangle]
pub unsafe extern "C" fn micro_client_options_set_content_type(
    o: *mut micro_client_options,
    ct: *const c_char,
) -> micro_status {
    set_str_option(o, ct, "content_type", |o, ct| o.inner.content_type = ct)
}

/// Default budget of a whole call, in milliseconds (also caps each attempt); 0 is invalid.
#[no_mangle]
pub unsafe extern "C" fn micro_client_options_set_timeout_ms(o: *mut micro_client_options, ms: u32) -> micro_status {
    set_option(
        o,
        || timeout_ms(ms),
        |o, d| {
            o.inner.request_timeout = d;
            o.inner.conn_timeout = o.inner.conn_timeout.min(d);
        },
    )
}

/// Extra attempts after the first (go-micro: 5).
#[no_mangle]
pub unsafe extern "C" fn micro_client_options_set_retries(o: *mut micro_client_options, n: u32) -> micro_status {
    set_option(o, || Ok(n), |o, n| o.inner.retries = n)
}

/// `micro_client_options_set_selector`: a uniformly random node on every attempt
/// (go-micro's default).
pub const MICRO_SELECTOR_RANDOM: i32 = 0;
/// `micro_client_options_set_selector`: each node of the service in turn.
pub const MICRO_SELECTOR_ROUND_ROBIN: i32 = 1;

/// How the client picks a node among a service's nodes (go-micro's selector strategy):
/// `MICRO_SELECTOR_RANDOM` (the default) or `MICRO_SELECTOR_ROUND_ROBIN`. Any other value
/// is `MICRO_STATUS_INVALID_ARG` and leaves the options unchanged. As with the other client
/// options, `micro_client_new` does not read `MICRO_SELECTOR` (a `micro_service`'s client does).
#[no_mangle]
pub unsafe extern "C" fn micro_client_options_set_selector(
    o: *mut micro_client_options,
    strategy: i32,
) -> micro_status {
    let input = || {
        match strategy {
        MICRO_SELECTOR_RANDOM => Ok(Strategy::Random),
        MICRO_SELECTOR_ROUND_ROBIN => Ok(Strategy::RoundRobin),
        other => Err(fail(
            MICRO_STATUS_INVALID_ARG,
            format!("selector strategy {other} is not valid: expected MICRO_SELECTOR_RANDOM (0) or MICRO_SELECTOR_ROUND_ROBIN (1)"),
        )),
    }
    };
    set_option(o, input, |o, s| o.inner.strategy = s)
}

/// An RPC client. Thread-safe: any number of threads may call through one client.
pub struct micro_client {
    pub(crate) rt: Arc<Rt>,
    pub(crate) client: Client,
}

/// A client that finds services in `reg`; with `reg` NULL, in the registry `MICRO_REGISTRY`
/// names (`MICRO_REGISTRY_ADDRESS` too; mDNS when unset), as a `micro_service` does — a
/// malformed one is `MICRO_STATUS_INVALID_ARG` naming it. `options` may be NULL (defaults). TLS comes from
/// go-micro's variables, as for a `micro_service` (`MICRO_TRANSPORT_SECURE`, `MICRO_TLS_CA`,
/// `MICRO_TLS_INSECURE`; a malformed one is `MICRO_STATUS_INVALID_ARG`); the other options
/// come from `options` only.
#[no_mangle]
pub unsafe extern "C" fn micro_client_new(
    rt: *mut micro_runtime,
    reg: *mut micro_registry,
    options: *const micro_client_options,
    out: *mut *mut micro_client,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let rt = Arc::clone(&arg(rt, "rt")?.rt);
        // SAFETY: `reg` is NULL or a live handle from `micro_registry_new` (the contract of every handle argument).
        let reg = reg.as_ref();
        let out = arg_mut(out, "out")?;
        rt.check()?;
        let opts = options.as_ref().map(|o| o.inner.clone()).unwrap_or_default();
        let builder = Client::builder().options(opts).without_broker();
        let builder = match reg {
            Some(r) => builder.registry(Arc::clone(&r.reg)),
            None => builder, // Client::builder() read MICRO_REGISTRY
        };
        let client = rt.block_on(builder.build())?.map_err(core_fail)?;
        *out = export(micro_client { rt, client });
        Ok(())
    })
}

/// Releases a client; calls in flight still complete. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_client_free(c: *mut micro_client) {
    free_handle(c)
}
