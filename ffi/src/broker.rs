//! `micro_broker`: go-micro's pub/sub transport (http, nats, memory), and the topic checks
//! every publish and subscribe makes. Publishing is in `publish`, subscribing in
//! `subscription`.

use crate::boundary::{arg, arg_mut, arg_str, boundary};
use crate::client::micro_client;
use crate::error::{core_fail, fail, micro_error, FfiResult};
use crate::handle::export;
use crate::registry::micro_registry;
use crate::runtime::free_in_runtime;
use crate::runtime::{micro_runtime, Rt};
use crate::status::{micro_status, MICRO_STATUS_NULL_ARG};
use crate::view::{micro_buf, new_buf};
use micro_core::broker::Broker;
use std::ffi::c_char;
use std::sync::Arc;

/// The checks every publish and subscribe makes of its topic and queue group (the pointers
/// already converted): core's (`host::check::topic`: both non-empty, no queue for no group),
/// as `MICRO_STATUS_INVALID_ARG`.
pub(crate) fn check_topic(topic: &str, queue: Option<&str>) -> FfiResult<()> {
    micro_core::host::check::topic(topic, queue).map_err(core_fail)
}

/// A broker: go-micro's pub/sub transport (`http` — go-micro's default —, `nats`,
/// `memory`). Thread-safe.
pub struct micro_broker {
    pub(crate) rt: Arc<Rt>,
    pub(crate) broker: Arc<dyn Broker>,
}

/// Opens the broker named by `url`: `"http"` (listen on `127.0.0.1:0`), `"http://HOST:PORT"`,
/// `"nats"` / `"nats://HOST:PORT"`, `"memory"`. The http broker registers its subscribers in
/// `reg` and finds subscribers there, so give it the registry your peers use; `reg` may be
/// NULL for the others (a private memory registry is used). `max_message` bounds a message
/// (0 = go-micro's 4 MiB). Unknown names are `MICRO_STATUS_INVALID_ARG`.
#[no_mangle]
pub unsafe extern "C" fn micro_broker_new(
    rt: *mut micro_runtime,
    url: *const c_char,
    reg: *mut micro_registry,
    max_message: usize,
    out: *mut *mut micro_broker,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let rt = Arc::clone(&arg(rt, "rt")?.rt);
        let url = arg_str(url, "url")?;
        let out = arg_mut(out, "out")?;
        rt.check()?;
        let registry: Arc<dyn micro_core::registry::Registry> = match reg.as_ref() {
            Some(r) => Arc::clone(&r.reg),
            None if url.trim().starts_with("http") || url.trim().is_empty() => {
                return Err(fail(
                    MICRO_STATUS_NULL_ARG,
                    "registry is NULL: the http broker needs the registry its peers use",
                ))
            }
            None => Arc::new(micro_core::registry::memory::Memory::new()),
        };
        let max = if max_message == 0 { micro_core::broker::DEFAULT_MAX_MESSAGE } else { max_message };
        let broker = {
            let _g = rt.handle.enter();
            micro_core::broker::from_url(&url, registry, max).map_err(core_fail)?
        };
        *out = export(micro_broker { rt, broker });
        Ok(())
    })
}

/// Starts the broker (listens, or connects to NATS). Idempotent; publishing and subscribing
/// do it on demand.
#[no_mangle]
pub unsafe extern "C" fn micro_broker_connect(b: *mut micro_broker, err: *mut *mut micro_error) -> micro_status {
    boundary(err, || {
        let b = arg(b, "broker")?;
        b.rt.block_on(b.broker.connect())?.map_err(core_fail)
    })
}

/// Stops the broker: withdraws its subscribers and stops listening / disconnects.
#[no_mangle]
pub unsafe extern "C" fn micro_broker_disconnect(b: *mut micro_broker, err: *mut *mut micro_error) -> micro_status {
    boundary(err, || {
        let b = arg(b, "broker")?;
        b.rt.block_on(b.broker.disconnect())?.map_err(core_fail)
    })
}

/// The broker's address (`host:port` it listens on, or the NATS URL), in a new buffer the
/// caller owns.
#[no_mangle]
pub unsafe extern "C" fn micro_broker_address(
    b: *mut micro_broker,
    out: *mut *mut micro_buf,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let b = arg(b, "broker")?;
        let out = arg_mut(out, "out")?;
        *out = new_buf(b.broker.address().into_bytes());
        Ok(())
    })
}

/// Releases a broker handle (subscriptions made through it keep it alive). NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_broker_free(b: *mut micro_broker) {
    free_in_runtime(b, |b| Arc::clone(&b.rt))
}

/// Makes `c` publish through `b` (a `micro_service`'s client already has its service's
/// broker).
#[no_mangle]
pub unsafe extern "C" fn micro_client_set_broker(c: *mut micro_client, b: *mut micro_broker) -> micro_status {
    boundary(std::ptr::null_mut(), || {
        let c = arg(c, "client")?;
        let b = arg(b, "broker")?;
        c.client.set_broker(Arc::clone(&b.broker));
        Ok(())
    })
}
