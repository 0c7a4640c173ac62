//! `micro_subscription`: a broker subscription delivered either to a callback (on dispatch
//! threads, one message at a time and in order per subscription) or pulled with
//! `micro_subscription_next`. `SubState` is that delivery: the messages wait in the core's
//! `host::Inbox` (the bridge every host shares, with its overflow rule), which the callback
//! mode drains on dispatch threads; server subscribers (`server`) use it too.

use crate::boundary::{arg, arg_mut, arg_str, boundary};
use crate::broker::{check_topic, micro_broker};
use crate::callback::{micro_free_fn, FreeHook, SendPtr};
use crate::dispatch::on_library_thread;
use crate::error::{core_fail, fail, micro_error, FfiResult};
use crate::event::{micro_event, micro_event_fn};
use crate::handle::{export, reclaim};
use crate::runtime::Rt;
use crate::status::{
    micro_status, MICRO_STATUS_CLOSED, MICRO_STATUS_ILLEGAL_STATE, MICRO_STATUS_NULL_ARG, MICRO_STATUS_TIMEOUT,
};
use crate::unwind::guard;
use crate::view::{cstring, micro_str, str_field};
use micro_core::broker::{Event, SubscribeOptions, Subscriber};
use micro_core::host::{Inbox, Incoming, DEFAULT_CAPACITY};
use std::ffi::{c_char, c_void, CString};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// Messages one dispatch job delivers before it yields its thread to other work.
const BATCH: usize = 64;

/// A C callback with its userdata.
pub(crate) struct Callback {
    pub(crate) f: unsafe extern "C" fn(*mut c_void, *const micro_event),
    pub(crate) ud: SendPtr,
}

#[derive(Default)]
struct SubInner {
    /// A dispatch job owns delivery (callback mode).
    running: bool,
    /// The thread inside the callback right now.
    in_callback: Option<ThreadId>,
    closed: bool,
    hook: Option<FreeHook>,
}

/// The delivery state of one subscription (broker subscriptions and server subscribers):
/// a queue drained one message at a time on a dispatch thread (callback mode), or pulled.
pub(crate) struct SubState {
    /// The messages not yet delivered: at most `DEFAULT_CAPACITY`, then the broker's
    /// delivery waits for room (the inbox's rule, the same in every host).
    inbox: Arc<Inbox>,
    m: Mutex<SubInner>,
    cv: Condvar,
    callback: Option<Callback>,
    broker_sub: Mutex<Option<Box<dyn Subscriber>>>,
    rt: Weak<Rt>,
}

impl SubState {
    /// A new, open state delivering to `callback` (`None`: pull mode); `hook` runs once
    /// after the last callback, when the state is closed.
    pub(crate) fn new(callback: Option<Callback>, hook: Option<FreeHook>, rt: &Arc<Rt>) -> Arc<Self> {
        Arc::new(SubState {
            inbox: Inbox::new("micro.c", DEFAULT_CAPACITY),
            m: Mutex::new(SubInner { hook, ..SubInner::default() }),
            cv: Condvar::new(),
            callback,
            broker_sub: Mutex::new(None),
            rt: Arc::downgrade(rt),
        })
    }

    fn lock(&self) -> MutexGuard<'_, SubInner> {
        self.m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Called by the broker (on an I/O task): queue (waiting for room when the inbox is
    /// full), then wake a puller or start a drain. The broker is told "delivered" once the
    /// message is queued; after close, messages are discarded.
    pub(crate) async fn deliver(self: Arc<Self>, ev: Event) -> micro_core::Result<()> {
        if self.lock().closed {
            return Ok(());
        }
        if let Err(e) = self.inbox.post_event(ev, 0).await {
            return if self.lock().closed { Ok(()) } else { Err(e) };
        }
        let mut g = self.lock();
        if self.callback.is_none() {
            drop(g);
            self.cv.notify_all();
            return Ok(());
        }
        if !g.running && !g.closed {
            g.running = true;
            drop(g);
            self.schedule();
        }
        Ok(())
    }

    /// The next queued message, without waiting (callback mode: the delivery job is the
    /// only puller; pull mode: `micro_subscription_next` under the state's lock).
    fn next_queued(&self) -> Option<Event> {
        match self.inbox.try_pull(1).pop() {
            Some(Incoming::Event { event, .. }) => Some(event),
            // Only messages are posted to a subscription's inbox.
            Some(_) | None => None,
        }
    }

    fn schedule(self: &Arc<Self>) {
        let me = Arc::clone(self);
        let job = Box::new(move || me.drain());
        let pushed = match self.rt.upgrade() {
            Some(rt) => rt.dispatch(job).is_ok(),
            None => false,
        };
        if !pushed {
            // No dispatch thread is left (runtime shut down): nothing more will be delivered.
            self.inbox.close();
            let hook = {
                let mut g = self.lock();
                if g.closed {
                    g.hook.take()
                } else {
                    None
                }
            };
            self.run_hook(hook);
            self.lock().running = false;
            self.cv.notify_all();
        }
    }

    /// Runs on a dispatch thread: delivers queued messages in order, one at a time.
    fn drain(self: &Arc<Self>) {
        let Some(cb) = &self.callback else { return };
        for _ in 0..BATCH {
            let ev = {
                let mut g = self.lock();
                g.in_callback = None;
                if g.closed {
                    let hook = g.hook.take();
                    drop(g);
                    // The hook first: a `close` waiting for `running` to drop returns once
                    // the hook has run.
                    self.run_hook(hook);
                    self.lock().running = false;
                    self.cv.notify_all();
                    return;
                }
                match self.next_queued() {
                    Some(ev) => {
                        g.in_callback = Some(std::thread::current().id());
                        ev
                    }
                    None => {
                        g.running = false;
                        drop(g);
                        self.cv.notify_all();
                        return;
                    }
                }
            };
            let event = micro_event::from_core(ev);
            // SAFETY: `cb.f` is the non-NULL C callback given at subscribe time; the C side
            // promised `ud` may be used from any thread; `event` outlives the call.
            unsafe { (cb.f)(cb.ud.0, &event) };
        }
        // Yield the thread; the next job continues where this one stopped.
        self.lock().in_callback = None;
        self.cv.notify_all();
        self.schedule();
    }

    /// Stops deliveries. Outside the callback: waits for a callback in progress to return,
    /// and the free hook has run when this returns. Inside its own callback: returns at once;
    /// no further callback starts, and the hook runs when the current one returns.
    pub(crate) fn close(&self) -> bool {
        let me = std::thread::current().id();
        let mut g = self.lock();
        let first = !g.closed;
        g.closed = true;
        // Messages not yet delivered are discarded (they were acknowledged when queued).
        self.inbox.close();
        self.cv.notify_all();
        if !g.running {
            let hook = g.hook.take();
            drop(g);
            self.run_hook(hook);
            return first;
        }
        if g.in_callback == Some(me) || on_library_thread() {
            // The delivery job sees `closed` and runs the hook after its callback returns;
            // a dispatch thread must not wait for another (the pool could be all waiting).
            return first;
        }
        while g.running {
            g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
        }
        let hook = g.hook.take();
        drop(g);
        self.run_hook(hook);
        first
    }
}

impl SubState {
    /// Runs the free hook — on a dispatch thread when called on a runtime thread.
    fn run_hook(&self, hook: Option<FreeHook>) {
        if let Some(h) = hook {
            h.release(&self.rt);
        }
    }
}

/// A subscription to a topic. Thread-safe. `micro_subscription_unsubscribe` ends it (also
/// from inside its own callback); `micro_subscription_free` unsubscribes if needed and
/// releases the handle.
pub struct micro_subscription {
    rt: Arc<Rt>,
    state: Arc<SubState>,
    topic: CString,
}

unsafe fn subscribe(
    b: *mut micro_broker,
    topic: *const c_char,
    queue: *const c_char,
    callback: Option<Callback>,
    hook: Option<FreeHook>,
    out: *mut *mut micro_subscription,
) -> FfiResult<()> {
    let b = arg(b, "broker")?;
    let topic = arg_str(topic, "topic")?;
    let queue = if queue.is_null() { None } else { Some(arg_str(queue, "queue")?) };
    let out = arg_mut(out, "out")?;
    check_topic(&topic, queue.as_deref())?;
    b.rt.check()?;
    let state = SubState::new(callback, None, &b.rt);
    let weak = Arc::downgrade(&state);
    let handler = micro_core::broker::handler(move |ev: Event| {
        let st = weak.upgrade();
        async move {
            match st {
                Some(st) => st.deliver(ev).await,
                None => Ok(()),
            }
        }
    });
    let broker = Arc::clone(&b.broker);
    let opts = SubscribeOptions { queue };
    let sub =
        b.rt.block_on(async move {
            broker.connect().await?;
            broker.subscribe(&topic, opts, handler).await
        })?
        .map_err(core_fail)?;
    let topic = cstring(sub.topic().to_string());
    *state.broker_sub.lock().unwrap_or_else(|p| p.into_inner()) = Some(sub);
    state.lock().hook = hook;
    *out = export(micro_subscription { rt: Arc::clone(&b.rt), state, topic });
    Ok(())
}

/// Subscribes `callback` to `topic` (`queue` NULL: every subscriber gets every message;
/// a queue name: each message goes to one member of the group). Messages arrive on dispatch
/// threads, one at a time and in order for this subscription. `userdata_free` (may be NULL)
/// runs exactly once with `userdata` after the last callback, when the subscription ends.
/// On error the hook is not kept and does not run.
#[no_mangle]
pub unsafe extern "C" fn micro_broker_subscribe(
    b: *mut micro_broker,
    topic: *const c_char,
    queue: *const c_char,
    callback: micro_event_fn,
    userdata: *mut c_void,
    userdata_free: micro_free_fn,
    out: *mut *mut micro_subscription,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let f = callback.ok_or_else(|| fail(MICRO_STATUS_NULL_ARG, "callback is NULL"))?;
        let hook = FreeHook::new(userdata_free, userdata);
        subscribe(b, topic, queue, Some(Callback { f, ud: SendPtr(userdata) }), hook, out)
    })
}

/// Subscribes to `topic` for pulling with `micro_subscription_next` (`queue` as in
/// `micro_broker_subscribe`). Up to 1024 messages wait (the library's inbox); beyond that
/// the broker's next delivery waits for room, so nothing is lost while you pull.
#[no_mangle]
pub unsafe extern "C" fn micro_broker_subscribe_pull(
    b: *mut micro_broker,
    topic: *const c_char,
    queue: *const c_char,
    out: *mut *mut micro_subscription,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || subscribe(b, topic, queue, None, None, out))
}

/// The next message of a pull subscription, waiting up to `timeout_ms` (0: don't wait).
/// `*out` is owned by the caller (`micro_event_free`). `MICRO_STATUS_TIMEOUT` when none
/// came, `MICRO_STATUS_CLOSED` once unsubscribed (or the runtime shut down),
/// `MICRO_STATUS_ILLEGAL_STATE` on a callback subscription.
#[no_mangle]
pub unsafe extern "C" fn micro_subscription_next(
    s: *mut micro_subscription,
    timeout_ms: u32,
    out: *mut *mut micro_event,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || {
        let s = arg(s, "subscription")?;
        let out = arg_mut(out, "out")?;
        let st = &s.state;
        if st.callback.is_some() {
            return Err(fail(MICRO_STATUS_ILLEGAL_STATE, "the subscription delivers to a callback"));
        }
        let deadline = Instant::now() + Duration::from_millis(u64::from(timeout_ms));
        let mut g = st.lock();
        loop {
            if let Some(ev) = st.next_queued() {
                *out = export(micro_event::from_core(ev));
                return Ok(());
            }
            if g.closed {
                return Err(fail(MICRO_STATUS_CLOSED, "the subscription is closed"));
            }
            s.rt.check()?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(fail(MICRO_STATUS_TIMEOUT, format!("no message within {timeout_ms} ms")));
            }
            g = st.cv.wait_timeout(g, left.min(Duration::from_millis(100))).unwrap_or_else(|p| p.into_inner()).0;
        }
    })
}

/// The subscription's topic, borrowed from `s`; `""` for NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_subscription_topic(s: *const micro_subscription) -> micro_str {
    str_field(s, |s| &s.topic)
}

fn unsubscribe(s: &micro_subscription) -> FfiResult<()> {
    let inside = on_library_thread();
    s.state.close();
    let sub = s.state.broker_sub.lock().unwrap_or_else(|p| p.into_inner()).take();
    let Some(sub) = sub else { return Ok(()) };
    if inside || s.rt.check().is_err() {
        // From a callback (or a runtime thread): withdraw in the background.
        if s.rt.check().is_ok() {
            s.rt.handle.spawn(async move {
                if let Err(e) = sub.unsubscribe().await {
                    tracing::warn!(topic = sub.topic(), error = %e, "unsubscribe failed");
                }
            });
        } else {
            let _g = s.rt.handle.enter();
            drop(sub);
        }
        return Ok(());
    }
    s.rt.block_on(sub.unsubscribe())?.map_err(core_fail)
}

/// Ends the subscription: no callback starts afterwards, and the broker withdraws it.
/// From a thread of yours it waits for a callback in progress to return (and the userdata
/// free hook has run when it returns); from inside a callback (its own or another's) it
/// returns at once and the hook runs when the callback in progress returns. Idempotent.
#[no_mangle]
pub unsafe extern "C" fn micro_subscription_unsubscribe(
    s: *mut micro_subscription,
    err: *mut *mut micro_error,
) -> micro_status {
    boundary(err, || unsubscribe(arg(s, "subscription")?))
}

/// Unsubscribes (if still subscribed, as `micro_subscription_unsubscribe`) and releases the
/// handle; safe from inside the subscription's own callback. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_subscription_free(s: *mut micro_subscription) {
    guard((), || {
        if let Some(s) = reclaim(s) {
            let _ = unsubscribe(&s);
            let micro_subscription { rt, state, topic } = *s;
            let _g = rt.handle.enter();
            drop(state);
            drop(topic);
        }
    })
}
