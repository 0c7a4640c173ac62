//! A batch's calls to `async def` handlers, started here rather than in Python (issue 18).
//!
//! On Python 3.10 and 3.11 the service's dispatcher hands each batch it pulls to
//! [`start_batch`], with its handlers and hooks (nothing is kept here between batches, so
//! every reference stays where Python's garbage collector sees it). For a unary call to an `async def` handler (no wrappers) with a
//! plain JSON body, this does what `Service._answer` run by `micro._eager.starter` does, in
//! the same order of Python operations: a copy of the context, the request's traceparent
//! set in it, a stand-in current task, the handler called and its coroutine's first step
//! run ([`_step`]), and a plain reply written here. The first step goes through
//! `PyIter_Send`, so a handler that returns raises no `StopIteration`, and no coroutine of
//! ours wraps the handler's.
//!
//! Python keeps everything that is not that: every other item of the batch (`slow`, in its
//! place in the batch's order), a reply that is not plain JSON (`reply`), an exception
//! (`failed`), and a coroutine that suspended (`suspended`, which makes its Task). Each
//! hook but `slow` runs in the request's context with its stand-in current, as the same
//! code ran inside `_answer`.
//!
//! Measured by the bench's own figures (`bench/results/`); a profile of the interpreter's
//! thread put `_PyEval_EvalFrameDefault` and the objects `_answer` and the starter made per
//! request at about half of its time.

use crate::service::Request;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

/// The Python objects the starter works with, as the dispatcher gives them (a tuple, in
/// this order).
struct Hooks<'py> {
    /// `micro.Context`.
    context: Bound<'py, PyAny>,
    /// `contextvars.copy_context`.
    copy_context: Bound<'py, PyAny>,
    /// The traceparent `ContextVar` of `micro.client`.
    traceparent: Bound<'py, PyAny>,
    /// asyncio's record of each loop's current task (`asyncio.tasks._current_tasks`).
    current: Bound<'py, PyDict>,
    /// The running loop.
    event_loop: Bound<'py, PyAny>,
    /// Stand-ins that finished untouched, for reuse (the Python starter's own list).
    spare: Bound<'py, PyList>,
    /// `micro._eager._Pending`: a new stand-in, given the loop.
    pending: Bound<'py, PyAny>,
    /// `slow(item)`: starts an item as Python does.
    slow: Bound<'py, PyAny>,
    /// `reply(req, value)`: answers with a reply that is not plain JSON.
    reply: Bound<'py, PyAny>,
    /// `failed(req, exc)`: answers with what the handler raised.
    failed: Bound<'py, PyAny>,
    /// `suspended(req, coro, waiting, ctx, stand_in)`: a Task goes on with the coroutine.
    suspended: Bound<'py, PyAny>,
    /// [`_step`], as a Python function for `Context.run`.
    step: Bound<'py, PyAny>,
}

impl<'py> Hooks<'py> {
    fn of(hooks: &Bound<'py, PyTuple>) -> PyResult<Self> {
        if hooks.len() != 12 {
            return Err(PyTypeError::new_err("start_batch: hooks must be a tuple of 12"));
        }
        let at = |i: usize| hooks.get_item(i);
        Ok(Hooks {
            context: at(0)?,
            copy_context: at(1)?,
            traceparent: at(2)?,
            current: at(3)?.cast_into::<PyDict>()?,
            event_loop: at(4)?,
            spare: at(5)?.cast_into::<PyList>()?,
            pending: at(6)?,
            slow: at(7)?,
            reply: at(8)?,
            failed: at(9)?,
            suspended: at(10)?,
            step: at(11)?,
        })
    }
}

/// Starts each item of `batch`, in order: natively a unary call whose endpoint `handlers`
/// maps to `(async_fn, nargs)` and whose body is plain JSON, the rest through the `slow`
/// hook. An exception that is not an `Exception` (`SystemExit`, `KeyboardInterrupt`) raised
/// by a handler ends the batch and is raised here, as it ends the dispatcher in Python.
#[pyfunction]
pub fn start_batch(
    py: Python<'_>,
    batch: &Bound<'_, PyList>,
    handlers: &Bound<'_, PyDict>,
    hooks: &Bound<'_, PyTuple>,
) -> PyResult<()> {
    let hooks = Hooks::of(hooks)?;
    for item in batch.iter() {
        match plain_call(py, &hooks, handlers, &item)? {
            Some(call) => start_one(py, &hooks, call)?,
            None => {
                hooks.slow.call1((item,))?;
            }
        }
    }
    Ok(())
}

/// A call the starter runs: the request, read once here, and what its handler is called with.
struct PlainCall<'py> {
    req: Bound<'py, Request>,
    traceparent: Option<String>,
    fun: Bound<'py, PyAny>,
    args: Bound<'py, PyTuple>,
}

/// `item` as a [`PlainCall`] when it is a unary call to a handler in `handlers` with a
/// plain JSON body; `None` for Python to start.
fn plain_call<'py>(
    py: Python<'py>,
    hooks: &Hooks<'py>,
    handlers: &Bound<'py, PyDict>,
    item: &Bound<'py, PyAny>,
) -> PyResult<Option<PlainCall<'py>>> {
    let Ok(req) = item.cast::<Request>() else { return Ok(None) };
    let r = req.borrow();
    if r.streams() {
        return Ok(None);
    }
    let Some(entry) = handlers.get_item(r.endpoint_str())? else { return Ok(None) };
    let (fun, nargs): (Bound<'py, PyAny>, u8) = entry.extract()?;
    let Some(payload) = r.plain_payload(py)? else { return Ok(None) };
    let traceparent = r.traceparent_owned();
    drop(r);
    let args = match nargs {
        0 => PyTuple::empty(py),
        1 => PyTuple::new(py, [payload])?,
        _ => PyTuple::new(py, [payload, hooks.context.call1((item,))?])?,
    };
    Ok(Some(PlainCall { req: req.clone(), traceparent, fun, args }))
}

/// Starts one call: its first step in a copy of the context with a stand-in current, then
/// its answer, or its Task when it suspended.
fn start_one<'py>(py: Python<'py>, hooks: &Hooks<'py>, call: PlainCall<'py>) -> PyResult<()> {
    let PlainCall { req, traceparent, fun, args } = call;
    let ctx = hooks.copy_context.call0()?;
    let (current, event_loop) = (&hooks.current, &hooks.event_loop);
    let caller = current.get_item(event_loop)?;
    let spare = &hooks.spare;
    let stand_in = match spare.len() {
        0 => hooks.pending.call1((event_loop,))?,
        n => {
            let s = spare.get_item(n - 1)?;
            spare.del_item(n - 1)?;
            s
        }
    };
    current.set_item(event_loop, &stand_in)?;
    let run = intern!(py, "run");
    let outcome = ctx.call_method1(run, (&hooks.step, &hooks.traceparent, traceparent, fun, args));
    let answered = match outcome {
        Err(e) => ctx.call_method1(run, (&hooks.failed, &req, e.into_value(py))).map(|_| false),
        Ok(o) => match o.cast_into::<PyTuple>() {
            Ok(t) if t.len() == 3 => {
                let value = t.get_item(1)?;
                if t.get_item(0)?.is_truthy()? {
                    answer(py, hooks, &ctx, &req, &value).map(|_| true)
                } else {
                    let coro = t.get_item(2)?;
                    hooks.suspended.call1((&req, coro, value, &ctx, &stand_in)).map(|_| false)
                }
            }
            _ => Err(PyTypeError::new_err("start_batch: the step hook returned no outcome")),
        },
    };
    match caller {
        None => {
            let _ = current.del_item(event_loop);
        }
        Some(c) => current.set_item(event_loop, c)?,
    }
    let reusable = answered?;
    // Reused only when untouched: no cancel() asked of it, and nothing else holds it.
    if reusable
        && stand_in.getattr(intern!(py, "_cancels"))?.extract::<u64>().unwrap_or(1) == 0
        && stand_in.get_refcnt() == 1
    {
        spare.append(stand_in)?;
    }
    Ok(())
}

/// Answers `req` with `value`: natively when it is plain JSON, else through `reply`, in the
/// request's context; what answering raises goes to `failed`, as in `_answer`.
fn answer<'py>(
    py: Python<'py>,
    hooks: &Hooks<'py>,
    ctx: &Bound<'py, PyAny>,
    req: &Bound<'py, Request>,
    value: &Bound<'py, PyAny>,
) -> PyResult<()> {
    let run = intern!(py, "run");
    let sent = req.borrow().respond_value(value);
    match sent {
        Ok(true) => Ok(()),
        Ok(false) => ctx.call_method1(run, (&hooks.reply, req, value)).map(|_| ()),
        Err(e) => ctx.call_method1(run, (&hooks.failed, req, e.into_value(py))).map(|_| ()),
    }
}

/// Run in the request's context: sets the traceparent, calls the handler and runs its
/// coroutine's first step. `(True, value, None)` when it returned `value`, `(False,
/// waiting, coro)` when it suspended on `waiting`; what it raised is raised.
#[pyfunction]
pub fn _step<'py>(
    py: Python<'py>,
    var: &Bound<'py, PyAny>,
    traceparent: Option<String>,
    fun: &Bound<'py, PyAny>,
    args: &Bound<'py, PyTuple>,
) -> PyResult<Bound<'py, PyTuple>> {
    var.call_method1(intern!(py, "set"), (traceparent,))?;
    let coro = fun.call1(args)?;
    let mut out: *mut ffi::PyObject = std::ptr::null_mut();
    // SAFETY: `coro` is a live object and the GIL is held; PyIter_Send stores a new
    // reference in `out` for PYGEN_RETURN and PYGEN_NEXT, and sets an exception and no
    // result for PYGEN_ERROR (`out` stays null).
    let sent = unsafe { ffi::PyIter_Send(coro.as_ptr(), ffi::Py_None(), &mut out) };
    match sent {
        ffi::PySendResult::PYGEN_ERROR => Err(PyErr::fetch(py)),
        ffi::PySendResult::PYGEN_RETURN => {
            // SAFETY: a new reference that PyIter_Send gave us.
            let value = unsafe { Bound::from_owned_ptr(py, out) };
            PyTuple::new(py, [true.into_pyobject(py)?.to_owned().into_any(), value, py.None().into_bound(py)])
        }
        ffi::PySendResult::PYGEN_NEXT => {
            // SAFETY: as above.
            let waiting = unsafe { Bound::from_owned_ptr(py, out) };
            PyTuple::new(py, [false.into_pyobject(py)?.to_owned().into_any(), waiting, coro])
        }
    }
}
