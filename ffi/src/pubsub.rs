//! Pub/sub: brokers, publishing through a client, and subscriptions delivered either to a
//! callback (on dispatch threads, one message at a time and in order per subscription) or
//! pulled with `micro_subscription_next`.

use crate::client::{micro_client, micro_registry};
use crate::headers::*;
use crate::runtime::{on_library_thread, FreeHook, Rt, SendPtr};
use crate::*;
use micro_core::broker::{Broker, Event, SubscribeOptions, Subscriber, BROKER_ID};
use micro_core::PublishOptions;
use std::collections::VecDeque;
use std::ffi::c_void;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// Messages a subscription holds before the broker's deliveries to it fail (and are
/// logged): a slow callback or a consumer that stops pulling cannot grow memory forever.
const MAX_QUEUED: usize = 65_536;
/// Messages one dispatch job delivers before it yields its thread to other work.
const BATCH: usize = 64;

/// The checks every publish and subscribe makes of its topic and queue group (the pointers
/// already converted): both non-empty, a queue `None` for no group.
pub(crate) fn check_topic(topic: &str, queue: Option<&str>) -> R<()> {
    if topic.is_empty() {
        return Err(fail(MICRO_STATUS_INVALID_ARG, "topic is empty"));
    }
    if queue == Some("") {
        return Err(fail(MICRO_STATUS_INVALID_ARG, "queue is empty: pass NULL for no queue group"));
    }
    Ok(())
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

/// A delivered message: its topic, headers and body. Owned when returned by
/// `micro_subscription_next` (release with `micro_event_free`), borrowed when given to a
/// callback (for the duration of the callback).
#[derive(Clone)]
pub struct micro_event {
    topic: CString,
    body: bytes::Bytes,
    headers: Headers,
}

impl micro_event {
    fn from_core(e: Event) -> Self {
        micro_event { topic: cstring(e.topic), body: e.message.body, headers: headers_from(e.message.header) }
    }
}

/// The topic the message came on, borrowed from `e`; `""` for NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_event_topic(e: *const micro_event) -> micro_str {
    str_field(e, |e| &e.topic)
}

/// The body, byte for byte, borrowed from `e`; empty for NULL.
#[no_mangle]
pub unsafe extern "C" fn micro_event_body(e: *const micro_event) -> micro_bytes {
    bytes_field(e, |e| &e.body)
}

/// Number of headers (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn micro_event_header_count(e: *const micro_event) -> usize {
    header_count(e, |e| &e.headers)
}

/// Header `i` (0-based, sorted by name, keys exactly as the publisher wrote them); views
/// borrowed from `e`.
#[no_mangle]
pub unsafe extern "C" fn micro_event_header_at(
    e: *const micro_event,
    i: usize,
    key_out: *mut micro_str,
    value_out: *mut micro_str,
) -> micro_status {
    header_at(e, "event", |e| &e.headers, i, key_out, value_out)
}

/// Looks a header up by name (exact match first, then case-insensitive); `true` and
/// `*value_out` (borrowed from `e`) when found.
#[no_mangle]
pub unsafe extern "C" fn micro_event_header(
    e: *const micro_event,
    key: *const c_char,
    value_out: *mut micro_str,
) -> bool {
    header_lookup(e, |e| &e.headers, key, value_out, Match::ExactFirst)
}

/// A copy of `e` owned by the caller (NULL for NULL); release with `micro_event_free`.
#[no_mangle]
pub unsafe extern "C" fn micro_event_clone(e: *const micro_event) -> *mut micro_event {
    clone_handle(e)
}

/// Releases an event; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn micro_event_free(e: *mut micro_event) {
    free_handle(e)
}

/// A subscription callback: receives each message, borrowed for the call. Runs on a dispatch
/// thread; the messages of one subscription arrive one at a time, in the order the broker
/// delivered them. May call into the library, including unsubscribing its own subscription.
pub type micro_event_fn = Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const micro_event)>;

/// A C callback with its userdata.
pub(crate) struct Callback {
    pub(crate) f: unsafe extern "C" fn(*mut c_void, *const micro_event),
    pub(crate) ud: SendPtr,
}

#[derive(Default)]
struct SubInner {
    queue: VecDeque<Event>,
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

    /// Called by the broker (on an I/O thread): queue, then wake a puller or start a drain.
    pub(crate) fn deliver(self: &Arc<Self>, ev: Event) -> micro_core::Result<()> {
        let mut g = self.lock();
        if g.closed {
            return Ok(());
        }
        if g.queue.len() >= MAX_QUEUED {
            return Err(micro_core::Error::new(
                BROKER_ID,
                format!("subscription to {:?} has {MAX_QUEUED} undelivered messages: message dropped", ev.topic),
                503,
            ));
        }
        g.queue.push_back(ev);
        if self.callback.is_none() {
            drop(g);
            self.cv.notify_all();
            return Ok(());
        }
        if !g.running {
            g.running = true;
            drop(g);
            self.schedule();
        }
        Ok(())
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
            let hook = {
                let mut g = self.lock();
                g.queue.clear();
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
                    g.queue.clear();
                    let hook = g.hook.take();
                    drop(g);
                    // The hook first: a `close` waiting for `running` to drop returns once
                    // the hook has run.
                    self.run_hook(hook);
                    self.lock().running = false;
                    self.cv.notify_all();
                    return;
                }
                match g.queue.pop_front() {
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
        g.queue.clear();
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
) -> R<()> {
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
                Some(st) => st.deliver(ev),
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
/// `micro_broker_subscribe`). Up to 65536 messages wait; beyond that deliveries fail.
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
            if let Some(ev) = g.queue.pop_front() {
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

fn unsubscribe(s: &micro_subscription) -> R<()> {
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
