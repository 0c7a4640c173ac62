//! `micro_registry`: service discovery chosen by name or URL (mdns, memory, etcd, consul, nats), shared
//! by the clients, servers and brokers made from it.

use crate::boundary::{arg, arg_mut, arg_str, boundary};
use crate::error::{core_fail, fail, micro_error, FfiResult};
use crate::handle::{export, free_handle};
use crate::runtime::{micro_runtime, Rt};
use crate::status::{micro_status, MICRO_STATUS_CODEC};
use crate::view::{micro_buf, new_buf};
use micro_core::registry::Registry;
use std::ffi::c_char;
use std::sync::Arc;

/// A registry chosen by name or URL (`"mdns"`, `"memory"`, `"etcd"`). Thread-safe. Note that
/// each `memory` registry is its own private world: share the handle between the server and
/// the client that should see each other.
pub struct micro_registry {
    pub(crate) rt: Arc<Rt>,
    pub(crate) reg: Arc<dyn Registry>,
}

/// Opens the registry named by `url`, as go-micro's `MICRO_REGISTRY` names them:
///  - `"mdns"` (or `""`): multicast DNS on the local network, go-micro's default;
///  - `"memory"`: a private in-process registry (share the handle between the server and
///    the client that should see each other);
///  - `"etcd"` (`127.0.0.1:2379`) or `"etcd://HOST:PORT[,HOST:PORT…]"`: etcd v3 in go-micro
///    v5's key layout (`/micro/registry/…`), interoperable with go-micro's `registry/etcd`;
///  - `"consul"` (`CONSUL_HTTP_ADDR`, else `127.0.0.1:8500`) or `"consul://HOST:PORT"`: Consul's
///    agent API, in go-micro's `registry/consul` encoding;
///  - `"nats"` (`nats://127.0.0.1:4222`) or `"nats://HOST:PORT"` / `"tls://…"`: go-micro's
///    `registry/nats` protocol.
///
/// Any other name (e.g. `"zookeeper"`) is `MICRO_STATUS_INVALID_ARG`, with the known names in
/// the error detail. Release with `micro_registry_free`.
#[no_mangle]
pub unsafe extern "C" fn micro_registry_new(
    rt: *mut micro_runtime,
    url: *const c_char,
    out: *mut *mut micro_registry,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let rt = Arc::clone(&arg(rt, "rt")?.rt);
        let url = arg_str(url, "url")?;
        let out = arg_mut(out, "out")?;
        let reg = rt.block_on(micro_core::registry::from_url(&url))?.map_err(core_fail)?;
        *out = export(micro_registry { rt, reg });
        Ok(())
    })
}

/// The registry's view of service `name` as go-micro's JSON (an array of versions, each with
/// its nodes and endpoints), in a new buffer owned by the caller.
#[no_mangle]
pub unsafe extern "C" fn micro_registry_get_service_json(
    reg: *mut micro_registry,
    name: *const c_char,
    out: *mut *mut micro_buf,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let reg = arg(reg, "registry")?;
        let name = arg_str(name, "name")?;
        let out = arg_mut(out, "out")?;
        let services = reg.rt.block_on(reg.reg.get_service(&name))?.map_err(core_fail)?;
        let json = serde_json_vec(&services)?;
        *out = new_buf(json);
        Ok(())
    })
}

fn serde_json_vec(v: &[micro_core::registry::Service]) -> FfiResult<Vec<u8>> {
    // The core's data model serializes exactly as go-micro's JSON.
    serde_json::to_vec(v).map_err(|e| fail(MICRO_STATUS_CODEC, e.to_string()))
}

/// Releases a registry handle; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_registry_free(reg: *mut micro_registry) {
    free_handle(reg)
}
