//! The C ABI of micro (`libmicro.so`, `libmicro.a`, `include/micro.h`).
//!
//! Conventions (see the README's "C" section): opaque handles with `_new`/`_free`
//! (`_free(NULL)` is a no-op); every fallible function returns a `micro_status` and takes a
//! trailing `micro_error **err` that may be NULL and is written only on failure; out-params
//! are written only on success; inputs are copied before the function returns; `micro_str`
//! and `micro_bytes` results are borrowed views that live as long as their owner. Every
//! export checks its pointers for NULL and its strings for UTF-8 and runs inside one
//! panic boundary. Callbacks run on library-owned dispatch threads.
//!
//! One module per C type family, as rustls-ffi lays its crate out; each imports exactly what
//! it uses. cbindgen writes the header's functions in the order the modules are declared
//! below (each module's in source order), so that order is the header's: keep it.
#![warn(missing_docs)]
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

// Internal: the panic boundary and argument conversion, and the header list shared by
// requests, messages and events.
mod boundary;
mod headers;
mod unwind;

// The header's sections, in order (cbindgen follows this order; see above).
// micro_status and its names.
pub mod status;
// The library and ABI versions.
pub mod version;
// Objects handed to C and taken back; micro_debug_live_objects.
pub mod handle;
// micro_error.
pub mod error;
// micro_str, micro_bytes, micro_buf.
pub mod view;
// micro_registry.
pub mod registry;
// micro_client and its options.
pub mod client;
// micro_call_options.
pub mod call_options;
// micro_cancel.
pub mod cancel;
// micro_message.
pub mod message;
// micro_client_call, micro_client_call_sync.
pub mod call;
// micro_stream (client streams).
pub mod stream;
// micro_broker.
pub mod broker;
// micro_publish_options, micro_client_publish, micro_broker_publish.
pub mod publish;
// micro_event.
pub mod event;
// micro_subscription.
pub mod subscription;
// Userdata and free hooks (micro_free_fn).
pub mod callback;
// Thread roles and the dispatch pool.
pub mod dispatch;
// micro_runtime.
pub mod runtime;
// micro_log_set.
pub mod log;
// micro_server and its options.
pub mod server;
// micro_request.
pub mod request;
// micro_service.
pub mod service;
// micro_server_stream.
pub mod server_stream;
pub mod wrapper;
