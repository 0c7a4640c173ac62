//! `micro_error`: go-micro's `{id, code, detail, status}` plus the local `micro_status`, how
//! a core error maps to a status, and its accessors. Every export fails through `Fail`
//! (`fail`, `core_fail`); `boundary` hands it to C.

use crate::handle::{clone_handle, free_handle};
use crate::status::{
    micro_status, micro_status_str, MICRO_STATUS_CODEC, MICRO_STATUS_INVALID_ARG, MICRO_STATUS_NOT_FOUND,
    MICRO_STATUS_NULL_ARG, MICRO_STATUS_PANIC, MICRO_STATUS_REMOTE, MICRO_STATUS_TIMEOUT, MICRO_STATUS_TOO_LARGE,
    MICRO_STATUS_UNAVAILABLE,
};
use crate::unwind::guard;
use crate::view::{cstring, micro_str, str_field};
use micro_core::Error as CoreError;
use std::ffi::CString;

/// The id go-micro's registries (and ours: mDNS, etcd) give their own failures.
const REGISTRY_ID: &str = "go.micro.registry";

/// An error: go-micro's `{id, code, detail, status}` plus the local `micro_status`.
/// Owned by whoever received it through `micro_error **err`; release with
/// `micro_error_free`. Errors handed to callbacks are borrowed for the callback.
#[derive(Clone)]
pub struct micro_error {
    status: micro_status,
    code: i32,
    id: CString,
    detail: CString,
    status_text: CString,
}

impl micro_error {
    /// A local error (id `micro`, code 0).
    pub(crate) fn new(status: micro_status, detail: impl Into<String>) -> Self {
        micro_error {
            status,
            code: 0,
            id: cstring("micro"),
            detail: cstring(detail.into()),
            status_text: cstring(micro_status_str(status)),
        }
    }

    /// The core's go-micro error, with the local status that best describes it.
    pub(crate) fn from_core(e: &CoreError) -> Self {
        let status = if e.code == 408 || e.is_timeout() {
            MICRO_STATUS_TIMEOUT
        } else if e.code == 413 && e.id.starts_with("go.micro.") {
            MICRO_STATUS_TOO_LARGE
        } else if e.id == micro_core::broker::BROKER_ID && e.detail.contains("not found") {
            MICRO_STATUS_NOT_FOUND
        } else if e.id == micro_core::error::CODEC_ID {
            MICRO_STATUS_CODEC
        } else if e.code == 400 && e.id.starts_with("go.micro.") {
            // The library's own argument checks (micro_core::host::check, config).
            MICRO_STATUS_INVALID_ARG
        } else if e.id == micro_core::error::CLIENT_ID && e.detail.contains("not found") {
            MICRO_STATUS_NOT_FOUND
        } else if e.id == micro_core::error::CLIENT_ID || e.id == micro_core::error::TRANSPORT_ID || e.id == REGISTRY_ID
        {
            // A registry's own failure (mDNS cannot send or join its group, etcd unreachable)
            // happens on this machine: the mesh is unavailable, no remote answered.
            MICRO_STATUS_UNAVAILABLE
        } else {
            MICRO_STATUS_REMOTE
        };
        micro_error {
            status,
            code: e.code,
            id: cstring(e.id.clone()),
            detail: cstring(e.detail.clone()),
            status_text: cstring(e.status.clone()),
        }
    }

    /// The local status.
    pub(crate) fn status(&self) -> micro_status {
        self.status
    }

    /// go-micro's four fields, as the core's error.
    pub(crate) fn to_core(&self) -> CoreError {
        CoreError {
            id: self.id.to_string_lossy().into_owned(),
            code: self.code,
            detail: self.detail.to_string_lossy().into_owned(),
            status: self.status_text.to_string_lossy().into_owned(),
        }
    }
}

/// The failure half of every internal result.
pub(crate) type Fail = Box<micro_error>;

/// The result of every fallible step inside an export; `boundary` turns the failure into
/// the export's status and `micro_error`.
pub(crate) type FfiResult<T> = Result<T, Fail>;

/// A local failure with `status` and a detail text.
pub(crate) fn fail(status: micro_status, detail: impl Into<String>) -> Fail {
    Box::new(micro_error::new(status, detail))
}

/// A failure from the core's go-micro error (its status mapped by `micro_error::from_core`).
pub(crate) fn core_fail(e: CoreError) -> Fail {
    Box::new(micro_error::from_core(&e))
}

/// The local status of an error (`MICRO_STATUS_REMOTE` for go-micro errors); NULL gives
/// `MICRO_STATUS_NULL_ARG`.
#[no_mangle]
pub unsafe extern "C" fn micro_error_status(e: *const micro_error) -> micro_status {
    guard(MICRO_STATUS_PANIC, || e.as_ref().map_or(MICRO_STATUS_NULL_ARG, |e| e.status))
}

/// go-micro's HTTP-like code (`408`, `500` …); 0 for local errors or NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_error_code(e: *const micro_error) -> i32 {
    guard(0, || e.as_ref().map_or(0, |e| e.code))
}

/// go-micro's error id (e.g. `"go.micro.client"`), borrowed from `e`; `""` for NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_error_id(e: *const micro_error) -> micro_str {
    str_field(e, |e| &e.id)
}

/// The human-readable detail, borrowed from `e`; `""` for NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_error_detail(e: *const micro_error) -> micro_str {
    str_field(e, |e| &e.detail)
}

/// go-micro's status text (`"Request Timeout"` …), borrowed from `e`; `""` for NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_error_status_text(e: *const micro_error) -> micro_str {
    str_field(e, |e| &e.status_text)
}

/// A copy of `e` owned by the caller (NULL for NULL); release with `micro_error_free`.
#[no_mangle]
pub unsafe extern "C" fn micro_error_clone(e: *const micro_error) -> *mut micro_error {
    clone_handle(e)
}

/// Releases an error; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_error_free(e: *mut micro_error) {
    free_handle(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_registry_failure_is_unavailable_not_remote() {
        let e = micro_error::from_core(&CoreError::new(REGISTRY_ID, "mdns: cannot join 224.0.0.251", 503));
        assert_eq!(e.status(), MICRO_STATUS_UNAVAILABLE);
        let remote = micro_error::from_core(&CoreError::new("go.greeter", "teapot", 418));
        assert_eq!(remote.status(), MICRO_STATUS_REMOTE);
    }

    #[test]
    fn a_go_plain_text_error_has_go_micro_s_client_id_and_500() {
        let e = micro_error::from_core(&CoreError::from_reply("rpc: can't find service Nope"));
        assert_eq!(
            (e.code, e.id.to_str().ok(), e.detail.to_str().ok()),
            (500, Some("go.micro.client"), Some("rpc: can't find service Nope"))
        );
    }

    #[test]
    fn publish_with_no_subscriber_is_not_found() {
        let e = micro_error::from_core(&CoreError::not_found(
            micro_core::broker::BROKER_ID,
            "service micro.http.broker: not found",
        ));
        assert_eq!((e.status(), e.code), (MICRO_STATUS_NOT_FOUND, 404));
    }
}
