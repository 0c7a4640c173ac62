//! `micro_service`: a registry, a server, a client and a broker wired together from
//! go-micro's environment (the Rust `Service`), each reachable as a borrowed handle.

use crate::boundary::{arg, arg_mut, arg_str, boundary};
use crate::broker::micro_broker;
use crate::callback::micro_free_fn;
use crate::client::micro_client;
use crate::error::{core_fail, fail, micro_error};
use crate::event::micro_event_fn;
use crate::handle::{export, reclaim};
use crate::publish::{micro_client_publish, micro_publish_options};
use crate::registry::micro_registry;
use crate::runtime::{micro_runtime, Rt};
use crate::server::{micro_server, micro_server_subscribe};
use crate::status::{micro_status, MICRO_STATUS_NULL_ARG};
use crate::unwind::guard;
use crate::view::micro_bytes;
use std::ffi::{c_char, c_void};
use std::sync::Arc;

/// A service: a registry, a server, a client and a broker wired together (the Rust
/// `Service`). Thread-safe.
pub struct micro_service {
    rt: Arc<Rt>,
    svc: micro_core::Service,
    server: *mut micro_server,
    client: *mut micro_client,
    broker: *mut micro_broker,
    registry: *mut micro_registry,
}
// SAFETY: the four pointers are boxes this service owns (freed only by
// `micro_service_free`) whose targets are themselves thread-safe handles.
unsafe impl Send for micro_service {}
// SAFETY: as for Send: shared access only reads the pointers.
unsafe impl Sync for micro_service {}

/// A service named `name` using the registry `registry_url` (any name `micro_registry_new`
/// takes: `"mdns"`, `"memory"`, `"etcd[://…]"`; NULL = `MICRO_REGISTRY`, else mdns) and the
/// broker `MICRO_BROKER`/`MICRO_BROKER_ADDRESS` name (go-micro's http broker by default),
/// configured from go-micro's `MICRO_*` environment variables. Add handlers and subscribers,
/// then `micro_service_start`.
#[no_mangle]
pub unsafe extern "C" fn micro_service_new(
    rt: *mut micro_runtime,
    name: *const c_char,
    registry_url: *const c_char,
    out: *mut *mut micro_service,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let rt = Arc::clone(&arg(rt, "rt")?.rt);
        let name = arg_str(name, "name")?;
        let url = if registry_url.is_null() { None } else { Some(arg_str(registry_url, "registry_url")?) };
        let out = arg_mut(out, "out")?;
        let mut b = micro_core::Service::builder(name);
        if let Some(u) = url {
            b = b.registry_url(u);
        }
        let svc = rt.block_on(b.build())?.map_err(core_fail)?;
        // Inner handles are owned by the service, not counted as separate C objects.
        let server = Box::into_raw(Box::new(micro_server { rt: Arc::clone(&rt), server: svc.server().clone() }));
        let client = Box::into_raw(Box::new(micro_client { rt: Arc::clone(&rt), client: svc.client().clone() }));
        let broker = Box::into_raw(Box::new(micro_broker { rt: Arc::clone(&rt), broker: Arc::clone(svc.broker()) }));
        let registry = Box::into_raw(Box::new(micro_registry { rt: Arc::clone(&rt), reg: Arc::clone(svc.registry()) }));
        *out = export(micro_service { rt, svc, server, client, broker, registry });
        Ok(())
    })
}

/// The service's server, borrowed (valid until `micro_service_free`); NULL for NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_service_server(s: *mut micro_service) -> *mut micro_server {
    guard(std::ptr::null_mut(), || s.as_ref().map_or(std::ptr::null_mut(), |s| s.server))
}

/// The service's client, borrowed (valid until `micro_service_free`); NULL for NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_service_client(s: *mut micro_service) -> *mut micro_client {
    guard(std::ptr::null_mut(), || s.as_ref().map_or(std::ptr::null_mut(), |s| s.client))
}

/// The service's broker (chosen by `MICRO_BROKER`/`MICRO_BROKER_ADDRESS`, go-micro's http
/// broker by default), borrowed (valid until `micro_service_free`); NULL for NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_service_broker(s: *mut micro_service) -> *mut micro_broker {
    guard(std::ptr::null_mut(), || s.as_ref().map_or(std::ptr::null_mut(), |s| s.broker))
}

/// The service's registry, borrowed (valid until `micro_service_free`); NULL for NULL.
/// With `"memory"` this is the only way to look into the service's private registry.
#[no_mangle]
pub unsafe extern "C" fn micro_service_registry(s: *mut micro_service) -> *mut micro_registry {
    guard(std::ptr::null_mut(), || s.as_ref().map_or(std::ptr::null_mut(), |s| s.registry))
}

/// Publishes through the service's client and broker: `micro_client_publish`.
#[no_mangle]
pub unsafe extern "C" fn micro_service_publish(
    s: *mut micro_service,
    topic: *const c_char,
    body: micro_bytes,
    options: *const micro_publish_options,
    err: *mut *mut micro_error,
) -> micro_status {
    match s.as_ref() {
        Some(s) => micro_client_publish(s.client, topic, body, options, err),
        None => boundary(err, || Err(fail(MICRO_STATUS_NULL_ARG, "service is NULL"))),
    }
}

/// Adds a subscriber to the service's server: `micro_server_subscribe` on
/// `micro_service_server(s)` (the service's broker; before `micro_service_start`).
#[no_mangle]
pub unsafe extern "C" fn micro_service_subscribe(
    s: *mut micro_service,
    topic: *const c_char,
    queue: *const c_char,
    callback: micro_event_fn,
    userdata: *mut c_void,
    userdata_free: micro_free_fn,
    err: *mut *mut micro_error,
) -> micro_status {
    match s.as_ref() {
        Some(s) => micro_server_subscribe(s.server, topic, queue, callback, userdata, userdata_free, err),
        None => boundary(err, || Err(fail(MICRO_STATUS_NULL_ARG, "service is NULL"))),
    }
}

/// Starts the service as the Rust `Service::start`: connects its broker, then listens,
/// registers the node (with its handler and subscriber endpoints) and subscribes.
#[no_mangle]
pub unsafe extern "C" fn micro_service_start(s: *mut micro_service, err: *mut *mut micro_error) -> micro_status {
    boundary(err, || {
        let s = arg(s, "service")?;
        s.rt.block_on(s.svc.start())?.map_err(core_fail)
    })
}

/// Stops the service as the Rust `Service::stop`: deregisters, unsubscribes and drains the
/// server (up to its drain timeout), then disconnects the broker. Safe from inside a
/// callback: the stop then runs in the background (and this returns `MICRO_STATUS_OK`).
#[no_mangle]
pub unsafe extern "C" fn micro_service_stop(s: *mut micro_service, err: *mut *mut micro_error) -> micro_status {
    boundary(err, || {
        let s = arg(s, "service")?;
        let svc = s.svc.clone();
        s.rt.stop("service", async move { svc.stop().await })
    })
}

/// Releases the service (stop it first to deregister cleanly). NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_service_free(s: *mut micro_service) {
    guard((), || {
        if let Some(s) = reclaim(s) {
            let micro_service { rt, svc, server, client, broker, registry } = *s;
            // SAFETY: the four boxes were made by `micro_service_new` and are released only
            // here, once (the service handle was just reclaimed).
            let (server, client, broker, registry) = unsafe {
                (Box::from_raw(server), Box::from_raw(client), Box::from_raw(broker), Box::from_raw(registry))
            };
            let _g = rt.handle.enter();
            drop(registry);
            drop(broker);
            drop(client);
            drop(server);
            drop(svc);
        }
    })
}
