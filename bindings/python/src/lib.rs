//! `micro._native`: the thin pyo3 layer under the Python package `micro`.
//!
//! The rule (ffi-patterns §3.2): no Python code runs on the library's tokio threads. Rust
//! exposes awaitables (an asyncio future completed on its loop, which a bell wakes:
//! `bridge::Completions`) and pull primitives (`Service.next_request`), and the Python
//! package dispatches handlers on its own event loop. Blocking entry points release the GIL
//! and still answer Ctrl-C.
//!
//! Errors leave as `NativeError(id, code, detail, status)`; the Python layer turns them into
//! `micro.Error` subclasses.

#![allow(clippy::too_many_arguments)]

mod bridge;
mod client;
mod eager;
mod here;
mod json;
mod log;
mod service;

use pyo3::prelude::*;

/// mimalloc for the library's own allocations: the runtime threads allocate and free each
/// request's head, headers and body while the loop's thread frees what it was handed, and
/// glibc's arenas spent a tenth of the served path in malloc, free and consolidation (perf,
/// `bench/py_ab.sh` with and without: 1.02–1.07× served). Python's own objects keep
/// Python's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pyo3::create_exception!(
    _native,
    NativeError,
    pyo3::exceptions::PyException,
    "A go-micro error: args are (id, code, detail, status)."
);

/// The id of errors raised by this layer itself (closed objects, bad arguments, fork).
pub(crate) const PY_ID: &str = "micro.python";
/// The id of the error raised when an object is used in a forked child.
pub(crate) const FORK_ID: &str = "micro.python.fork";
/// The id of the error raised when a closed object is used (a closed client or stream, a
/// finished stream, a request nobody waits for any more); `micro.ClosedError` in Python.
pub(crate) const CLOSED_ID: &str = "micro.python.closed";

/// Converts a go-micro error into the exception the Python layer maps.
pub(crate) fn to_py(e: micro::Error) -> PyErr {
    NativeError::new_err((e.id, e.code, e.detail, e.status))
}

/// An error raised by this layer with the given code.
pub(crate) fn err(code: i32, detail: impl Into<String>) -> PyErr {
    to_py(micro::Error::new(PY_ID, detail, code))
}

/// The error for using a closed object: code 503, id [`CLOSED_ID`].
pub(crate) fn closed(detail: impl Into<String>) -> PyErr {
    to_py(micro::Error::new(CLOSED_ID, detail, 503))
}

/// The library version.
#[pyfunction]
fn version() -> &'static str {
    micro::VERSION
}

/// Called at interpreter exit: no result is delivered to Python after this.
#[pyfunction]
fn _set_exiting(py: Python<'_>) {
    bridge::set_exiting(py);
}

/// `os.register_at_fork(before=…)`: keeps runtime threads out of Python during `fork()`.
#[pyfunction]
fn _before_fork(py: Python<'_>) {
    bridge::before_fork(py);
}

/// `os.register_at_fork(after_in_parent=…)`: lets runtime threads back into Python.
#[pyfunction]
fn _after_fork_in_parent() {
    bridge::after_fork_in_parent();
}

/// Go's `http.StatusText(code)`: the `status` go-micro's `errors.New` gives a code (`""`
/// for codes Go does not name).
#[pyfunction]
fn status_text(code: i32) -> &'static str {
    micro::error::status_text(code)
}

/// The kind of body `content_type` carries — `"json"`, `"text"` or `"bytes"` — by the one
/// table every host follows (`micro::host::body`). `micro._body` memoizes it per content
/// type, so a message pays no call here.
#[pyfunction]
fn body_kind(content_type: &str) -> &'static str {
    micro::host::body::kind(content_type).as_str()
}

/// The go-micro error, as `(id, code, detail, status)`, for a body that says JSON
/// (`content_type`) and does not parse (`why`): 400 when `side` is `"request"` (the caller
/// sent it), 500 when `"reply"` (the service answered it).
#[pyfunction]
fn invalid_json(side: &str, content_type: &str, why: &str) -> PyResult<(String, i32, String, String)> {
    use micro::host::body::Side;
    let side = match side {
        "request" => Side::Request,
        "reply" => Side::Reply,
        other => return Err(err(400, format!("side must be 'request' or 'reply', got {other:?}"))),
    };
    let e = micro::host::body::invalid_json(PY_ID, side, content_type, why);
    Ok((e.id, e.code, e.detail, e.status))
}

/// Number of tokio runtimes built in this process's lifetime (grows after a fork).
#[pyfunction]
fn runtime_generation() -> u64 {
    bridge::generation()
}

/// Times a thread outside Python entered it to hand something over (for tests: results
/// reach an asyncio loop that watches its bell without any).
#[pyfunction]
fn _gate_attaches() -> u64 {
    bridge::attaches()
}

/// How many times event loops turned their thread's own runtime (for tests: a socket the
/// loop would report on every pass shows as a count that keeps growing).
#[pyfunction]
fn _here_pumps() -> u64 {
    here::pumps()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    bridge::note_main_thread(m.py())?;
    m.add("NativeError", m.py().get_type::<NativeError>())?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(runtime_generation, m)?)?;
    m.add_function(wrap_pyfunction!(status_text, m)?)?;
    m.add_function(wrap_pyfunction!(body_kind, m)?)?;
    m.add_function(wrap_pyfunction!(invalid_json, m)?)?;
    m.add_function(wrap_pyfunction!(_set_exiting, m)?)?;
    m.add_function(wrap_pyfunction!(_gate_attaches, m)?)?;
    m.add_function(wrap_pyfunction!(_here_pumps, m)?)?;
    m.add_function(wrap_pyfunction!(eager::start_batch, m)?)?;
    m.add_function(wrap_pyfunction!(eager::_step, m)?)?;
    m.add_function(wrap_pyfunction!(json::json_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(json::json_value, m)?)?;
    m.add_function(wrap_pyfunction!(log::_log_start, m)?)?;
    m.add_function(wrap_pyfunction!(log::_log_next, m)?)?;
    m.add_function(wrap_pyfunction!(log::_log_close, m)?)?;
    m.add_function(wrap_pyfunction!(log::_log_after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(_before_fork, m)?)?;
    m.add_function(wrap_pyfunction!(_after_fork_in_parent, m)?)?;
    m.add_class::<service::Service>()?;
    m.add_class::<service::Request>()?;
    m.add_class::<service::Message>()?;
    m.add_class::<client::Client>()?;
    m.add_class::<client::ClientStream>()?;
    m.add_class::<client::Registry>()?;
    m.add_class::<bridge::Canceller>()?;
    m.add_class::<bridge::Completions>()?;
    m.add_class::<bridge::Drainer>()?;
    m.add_class::<here::Pump>()?;
    Ok(())
}
