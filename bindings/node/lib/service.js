'use strict';
// Serving endpoints: Service and ServerStream (Python: micro/service.py).
//
// The native module queues each incoming call, stream and event; `start()` pulls them in
// batches (`nextRequests`) and runs handlers and subscribers here, on the event loop, so no
// JavaScript ever runs on the library's threads. A pending pull is what keeps the process
// alive while the service is open.

const native = require('./native');
const { MicroError, NODE_ID, bad, describe, kind, toMicro } = require('./errors');
const { JSON: JSON_TYPE, isJson, isBinary, encode, jsonText, decode } = require('./body');
const {
  Client, Registry, guard, guardAsync, checkObject, checkString, checkMillis, stringMap, unstarted, traceContext,
} = require('./client');

const BATCH = 256; // requests taken from the native queue per wake-up of the event loop
const CALL_STRIDE = native.CALL_STRIDE; // numbers per call in a batch's `calls`

/**
 * An empty queue of unary-call answers (`Service._answer`): each a Buffer, or a JSON text
 * (a string) in the request's content type; whether any is a Buffer (`bytes`) or has a content
 * type given (`typed`), a flush queued.
 */
function noAnswers() {
  return { ids: [], bufs: [], cts: [], bytes: false, typed: false, queued: false };
}

/** A stream as a server handler sees it; `for await (const m of stream)` reads it. */
class ServerStream {
  constructor(req, contentType) {
    this._r = req;
    this._ct = contentType;
    /** The stream's request: service, endpoint, contentType, header. */
    this.service = req.service;
    this.endpoint = req.endpoint;
    this.contentType = contentType;
    this.header = req.header;
  }

  /** The next message from the client, or `null` after its end. */
  async recv() {
    const b = await guard(() => this._r.recv());
    return b === null ? null : decode(b, this._ct, 'request');
  }

  /** Sends one message to the client. */
  send(msg) {
    return guardAsync(() => {
      const [buf] = encode(msg, this._ct);
      return this._r.send(buf);
    });
  }

  async *[Symbol.asyncIterator]() {
    for (;;) {
      const m = await this.recv();
      if (m === null) return;
      yield m;
    }
  }
}

/**
 * A handler's return value as `[bytes, contentType]`: bytes go as they are with the
 * request's content type, anything else as JSON (the request's JSON content type, else
 * application/json); `undefined` is `{}`.
 */
function encodeResult(out, requestCt) {
  return encode(out === undefined ? {} : out, isJson(requestCt) || isBinary(out) ? requestCt : undefined);
}

/**
 * A micro service: `handle` endpoints, `subscribe` topics, then `start()`; `close()` stops
 * it and lets the process exit.
 */
class Service {
  constructor(opts) {
    const o = typeof opts === 'string' ? { name: opts } : checkObject(opts, 'options');
    const n = {};
    for (const k of ['name', 'version', 'address', 'advertise', 'id', 'registry', 'broker']) {
      if (o[k] !== undefined) n[k] = checkString(o[k], k);
    }
    for (const k of ['registerTtl', 'registerInterval']) {
      if (o[k] !== undefined) n[k] = checkMillis(o[k], k, { most: 86400000, zero: true });
    }
    for (const k of ['maxMessageSize', 'maxConcurrency']) {
      if (o[k] !== undefined) {
        if (typeof o[k] !== 'number') throw bad(`${k} must be a number, got ${typeof o[k]}`);
        n[k] = o[k];
      }
    }
    if (o.metadata !== undefined) n.metadata = stringMap(o.metadata, 'metadata');
    this._n = guard(() => new native.NativeService(n));
    this._name = this._n.name; // read per call; a native getter makes a new string each time
    this._handlers = new Map();
    this._subs = [];
    this._wrappers = [];
    this._subWrappers = [];
    this._state = 'new';
    this._pump = null;
    this._client = null;
    // Answers of unary calls not yet handed to the native side: sent together by `_flush`.
    this._out = noAnswers();
    this._flush = () => this._sendAnswers();
    unstarted.add(this);
    watchUnstarted();
  }

  /** The service name. */
  get name() { return this._n.name; }
  /** The node id. */
  get id() { return this._n.id; }
  /** The registered address once started, else null. */
  get address() { return this._n.address; }
  /** The bound listener address once started, else null. */
  get bound() { return this._n.bound; }

  /** A client that shares this service's registry cache and broker. */
  client() {
    this._open('client');
    if (!this._client) this._client = new Client(undefined, this._n.client());
    return this._client;
  }

  /**
   * The registry this service registers with: `getService(name)` shows its nodes, version,
   * metadata and endpoints as other members of the mesh see them.
   */
  registry() {
    this._open('registry');
    return new Registry(undefined, this._n.registry());
  }

  _open(what) {
    if (this._state === 'closed') throw new MicroError(NODE_ID, 499, `${what}: service ${this._n.name} is closed`);
  }

  /**
   * Serves `endpoint` (`Handler.Method`) with `fn(body, request)`, plain or async; its
   * return value is the reply. With `{stream: true}`, `fn(stream, request)` gets a
   * ServerStream, and the stream ends when it returns.
   */
  handle(endpoint, fn, opts) {
    this._open('handle');
    checkString(endpoint, 'endpoint');
    if (typeof fn !== 'function') throw bad(`handler for ${endpoint} must be a function, got ${typeof fn}`);
    const o = checkObject(opts, 'options');
    const stream = Boolean(o.stream);
    guard(() => this._n.handle(endpoint, stream, o.metadata === undefined ? undefined : stringMap(o.metadata, 'metadata')));
    this._handlers.set(endpoint, fn);
    return this;
  }

  /**
   * Subscribes `fn(body, message)` to `topic` (`{queue}` for a queue group); must precede
   * `start()`. A throw or rejection is reported to the broker as a failure.
   */
  subscribe(topic, fn, opts) {
    this._open('subscribe');
    checkString(topic, 'topic');
    if (typeof fn !== 'function') throw bad(`subscriber for ${topic} must be a function, got ${typeof fn}`);
    if (this._state !== 'new') throw new MicroError(NODE_ID, 409, 'subscribe before start()');
    const o = checkObject(opts, 'options');
    const idx = guard(() => this._n.subscribe(topic, o.queue === undefined ? undefined : checkString(o.queue, 'queue')));
    this._subs[idx] = fn;
    return this;
  }

  /**
   * Adds a handler wrapper `async (req, ctx, next) => reply` (go-micro's server wrapper):
   * `req` is the decoded body the handler would get, `ctx` its request (service, endpoint,
   * contentType, header, raw). It may change `req`, resolve to `await next(req, ctx)` (the
   * handler's reply, which it may change) or answer itself; a throw is that call's error (a
   * MicroError as it is, anything else a 500). Runs on the event loop around unary
   * handlers, in the order added (first outermost). Returns `this`.
   */
  wrap(fn) {
    this._open('wrap');
    if (typeof fn !== 'function') throw bad(`a handler wrapper must be a function (req, ctx, next), got ${typeof fn}`);
    this._wrappers.push(fn);
    return this;
  }

  /**
   * Adds a subscriber wrapper `async (msg, next) => void`: `msg` is the message (topic,
   * header, contentType, raw, body decoded); `await next(msg)` delivers it to the
   * subscriber, not calling `next` drops it (acknowledged as handled). First added is
   * outermost. Returns `this`.
   */
  wrapSubscriber(fn) {
    this._open('wrapSubscriber');
    if (typeof fn !== 'function') throw bad(`a subscriber wrapper must be a function (msg, next), got ${typeof fn}`);
    this._subWrappers.push(fn);
    return this;
  }

  /** Runs handler wrapper `i` (past the last: the handler) on `req`. */
  _wrapped(i, fn, req, ctx) {
    if (i === this._wrappers.length) return fn(req, ctx);
    const next = (r, c) => new Promise((resolve) => resolve(this._wrapped(i + 1, fn, r, c === undefined ? ctx : c)));
    return this._wrappers[i](req, ctx, next);
  }

  /** Runs subscriber wrapper `i` (past the last: the subscriber) on `msg`. */
  _deliverWrapped(i, fn, msg) {
    if (i === this._subWrappers.length) return fn(msg.body, msg);
    const next = (m) => new Promise((resolve) => resolve(this._deliverWrapped(i + 1, fn, m === undefined ? msg : m)));
    return this._subWrappers[i](msg, next);
  }

  /** The endpoints as registered (go-micro's registry shape). */
  endpoints() {
    return JSON.parse(this._n.endpointsJson());
  }

  /** Listens and registers; the process stays alive until `close()`. */
  async start() {
    this._open('start');
    if (this._state === 'started') throw new MicroError(NODE_ID, 409, `service ${this._n.name} is already started`);
    await guard(() => this._n.start());
    this._state = 'started';
    unstarted.delete(this);
    this._pump = this._dispatch();
    return this;
  }

  /** Deregisters, drains calls in flight and stops; the process may then exit. */
  async close() {
    if (this._state === 'closed') return;
    const was = this._state;
    this._state = 'closed';
    unstarted.delete(this);
    if (was === 'started') {
      await guard(() => this._n.stop());
      await this._pump;
    }
  }

  async _dispatch() {
    for (;;) {
      let batch;
      try {
        batch = await this._n.nextRequests(BATCH);
      } catch (e) {
        reportCallbackError('nextRequests', e);
        return;
      }
      // Per call, CALL_STRIDE numbers: id, body end, endpoint, content type and service
      // (indexes in `names`); see `RequestBatch` in src/service.rs.
      const { calls, others } = batch;
      if (calls.length === 0 && others.length === 0) return;
      if (calls.length > 0) {
        const { names, traceparents, bodies } = batch;
        let start = 0;
        for (let j = 0, i = 0; j < calls.length; j += CALL_STRIDE, i++) {
          const end = calls[j + 1];
          const tp = traceparents === undefined ? null : traceparents[i];
          this._call(calls[j], names[calls[j + 2]], names[calls[j + 3]], names[calls[j + 4]], tp, bodies.subarray(start, end));
          start = end;
        }
      }
      for (const r of others) {
        if (r.kind === 'message') this._deliver(r);
        else this._stream(r);
      }
      // Handlers that finished without suspending have answered once the microtasks queued
      // so far ran: send those answers before asking for the next batch.
      await null;
      this._sendAnswers();
    }
  }

  /**
   * Queues the answer to call `id`: `buf` a Buffer, or a JSON text (string) without its
   * newline; `ct` null: the request's content type.
   */
  _answer(id, buf, ct) {
    const o = this._out;
    o.ids.push(id);
    o.bufs.push(buf);
    o.cts.push(ct);
    if (ct !== null) o.typed = true;
    if (typeof buf !== 'string') o.bytes = true;
    if (!o.queued) {
      o.queued = true;
      queueMicrotask(this._flush);
    }
  }

  /**
   * Sends the queued answers: one native call and one wake-up of the library's thread for
   * all of them, where a call each woke it once per answer.
   */
  _sendAnswers() {
    const o = this._out;
    o.queued = false;
    const count = o.ids.length;
    if (count === 0) return;
    const { ids, bufs, cts, typed, bytes } = o;
    this._out = noAnswers();
    const n = this._n;
    if (!bytes && !typed) {
      // JSON texts only (the usual batch): one string, a newline after each, and no Buffer
      // made per answer; go-micro's JSON codec ends its bodies with a newline too.
      n.respondLines(Float64Array.from(ids), bufs.join('\n') + '\n');
      return;
    }
    for (let i = 0; i < count; i++) {
      if (typeof bufs[i] === 'string') bufs[i] = Buffer.from(bufs[i] + '\n');
    }
    if (count === 1) {
      try {
        n.respondCall(ids[0], bufs[0], cts[0]);
      } catch (_) { /* answered already */ }
      return;
    }
    const ends = new Uint32Array(count);
    let size = 0;
    for (let i = 0; i < count; i++) {
      size += bufs[i].length;
      ends[i] = size;
    }
    n.respondCalls(Float64Array.from(ids), ends, Buffer.concat(bufs, size), typed ? cts : null);
  }

  /** Answers unary call `id` of a batch (see `nextRequests` in src/service.rs). */
  _call(id, endpoint, contentType, service, tp, raw) {
    const n = this._n;
    const svc = this._name;
    const fn = this._handlers.get(endpoint);
    const ct = contentType || JSON_TYPE;
    const fail = (e) => {
      if (!(e instanceof MicroError)) reportCallbackError(`handler of ${endpoint}`, e);
      failCall(n, id, e, svc);
    };
    if (!fn) {
      fail(new MicroError({ id: svc, code: 404, detail: `unknown endpoint ${endpoint}` }));
      return;
    }
    // The handler's second argument. Its headers are fetched only when read: most handlers
    // never do, and building them cost more than the rest.
    const req = callContext(n, id, service, endpoint, ct, raw);
    const lines = contentType === ct && isJson(ct); // a JSON reply goes as its text
    let run;
    try {
      const body = decode(raw, ct, 'request');
      run = inTrace(tp ?? undefined, () => (this._wrappers.length === 0 ? fn(body, req) : this._wrapped(0, fn, body, req)));
    } catch (e) {
      fail(e);
      return;
    }
    const ok = (out) => {
      let buf, rct;
      try {
        if (lines && !isBinary(out)) {
          // A JSON reply to a JSON request: queued as its text (see `_sendAnswers`).
          this._answer(id, jsonText(out), null);
          return;
        }
        [buf, rct] = encodeResult(out, ct);
      } catch (e) {
        const m = toMicro(e);
        failCall(n, id, new MicroError({ id: svc, code: m.code === 400 ? 500 : m.code, detail: `reply: ${m.detail}` }), svc);
        return;
      }
      this._answer(id, buf, rct === contentType ? null : rct);
    };
    // Reading the reply can throw too (a `then` getter, a Proxy's traps): that fails the
    // call, and never reaches the batch this call came in or the process.
    let pending;
    try {
      pending = run !== null && typeof run === 'object' && typeof run.then === 'function'
        ? (run instanceof Promise ? run : Promise.resolve(run))
        : undefined;
    } catch (e) {
      fail(e);
      return;
    }
    if (pending !== undefined) {
      pending.then(ok, fail);
    } else {
      ok(run); // a plain function's reply: answered at once
    }
  }

  _deliver(nr) {
    const svc = this._name;
    const fn = this._subs[nr.subscriber];
    const msg = { topic: nr.topic, header: undefined, contentType: nr.contentType, raw: nr.body };
    lazyHeader(msg, nr);
    let run;
    try {
      const body = decode(msg.raw, msg.contentType || JSON_TYPE, 'request');
      const tp = nr.traceparent ?? undefined;
      if (this._subWrappers.length === 0) {
        run = Promise.resolve(inTrace(tp, () => fn(body, msg)));
      } else {
        msg.body = body;
        run = Promise.resolve(inTrace(tp, () => this._deliverWrapped(0, fn, msg)));
      }
    } catch (e) {
      run = Promise.reject(e);
    }
    run.then(() => { try { nr.respond(); } catch (_) { /* answered */ } },
      (e) => { reportCallbackError(`subscriber for ${nr.topic}`, e); failWith(nr, e, svc); });
  }

  /** Runs a stream's handler (unary calls come by id: `_call`); the stream ends when it returns. */
  _stream(nr) {
    const svc = this._name;
    const endpoint = nr.endpoint;
    const fn = this._handlers.get(endpoint);
    const ct = nr.contentType || JSON_TYPE;
    // The handler's second argument; its headers are fetched from the native request only when read.
    const req = { service: nr.service, endpoint, contentType: ct, header: undefined };
    lazyHeader(req, nr);
    let run;
    try {
      if (!fn) throw new MicroError({ id: svc, code: 404, detail: `unknown endpoint ${endpoint}` });
      run = Promise.resolve(inTrace(nr.traceparent ?? undefined, () => fn(new ServerStream(nr, ct), req)));
    } catch (e) {
      run = Promise.reject(e);
    }
    run.then(() => {
      try { nr.respond(); } catch (_) { /* answered */ }
    }, (e) => {
      if (!(e instanceof MicroError)) reportCallbackError(`handler of ${endpoint}`, e);
      failWith(nr, e, svc);
    });
  }
}

/**
 * `target.header` as the native request's headers, fetched on first read (then kept);
 * enumerable, so `{ ...ctx }` in a wrapper carries it, and assignable.
 */
function lazyHeader(target, nr) {
  Object.defineProperty(target, 'header', {
    configurable: true,
    enumerable: true,
    get() {
      const h = nr.header;
      Object.defineProperty(target, 'header', { value: h, writable: true, enumerable: true, configurable: true });
      return h;
    },
    set(v) {
      Object.defineProperty(target, 'header', { value: v, writable: true, enumerable: true, configurable: true });
    },
  });
}

/**
 * A unary call's context, the handler's second argument: `{ service, endpoint, contentType,
 * header, raw }`. `header` is pending call `id`'s, fetched from the native side on its first
 * read (then kept): most handlers never read it, and building it cost more than the rest. It
 * is an enumerable own property like the others, so `{ ...ctx }` in a wrapper carries it, and
 * assignable. Read only after the call was answered (a handler that kept its context), it is
 * `{}`.
 *
 * The accessor is the same functions for every context (they find the call through a
 * symbol-keyed property), defined from one shared descriptor, and the rest is an object
 * literal: V8 then reuses one shape for every context. 0.16 µs a context, against 0.4 µs with
 * `service` an accessor too and the call a non-enumerable property (three defineProperty
 * calls), and 1.2 µs for an object literal with its own `get`/`set` (node 20, this machine).
 */
function callContext(n, id, service, endpoint, contentType, raw) {
  const ctx = { service, endpoint, contentType };
  Object.defineProperty(ctx, 'header', CONTEXT_HEADER);
  ctx.raw = raw;
  ctx[PENDING] = { n, id, header: undefined };
  return ctx;
}

/** The property holding what a context's header accessor fetches from. */
const PENDING = Symbol('micro.pendingCall');

const CONTEXT_HEADER = {
  get() {
    const p = this[PENDING];
    p.header ??= p.n.callInfo(p.id)?.header ?? {};
    return keep(this, 'header', p.header);
  },
  set(v) { keep(this, 'header', v); },
  enumerable: true,
  configurable: true,
};

/** Replaces accessor `key` of `ctx` by a plain property holding `v`; returns `v`. */
function keep(ctx, key, v) {
  Object.defineProperty(ctx, key, { value: v, writable: true, enumerable: true, configurable: true });
  return v;
}

/** Answers call `id` with `e` as a go-micro error (as `failWith`); a late answer is dropped. */
function failCall(n, id, e, service) {
  answerError(e, service, (...parts) => n.failCall(id, ...parts));
}

/**
 * `f()` with `tp` as the trace context its calls pass on; run directly when there is none
 * and none is current (most calls), which spares an AsyncLocalStorage frame.
 */
function inTrace(tp, f) {
  if (tp === undefined && traceContext.getStore() === undefined) return f();
  return traceContext.run(tp, f);
}

/**
 * Answers `nr` with `e` as a go-micro error (Python: `_safe_fail`): a MicroError as it is,
 * anything else as a 500 whose detail names its type (`TypeError: …`); a late answer is dropped.
 */
function failWith(nr, e, service) {
  answerError(e, service, (...parts) => nr.fail(...parts));
}

/**
 * `fail(id, code, detail, status)` with `e` as a go-micro error. An error that cannot be
 * sent as it is (a MicroError whose code was changed to a string, a detail getter that
 * throws) answers a 500 saying so instead: nothing a handler throws leaves its caller
 * waiting or reaches the process. A second failure means the call was answered already.
 */
function answerError(e, service, fail) {
  try {
    const m = e instanceof MicroError ? e : new MicroError({ id: service, code: 500, detail: describe(e) });
    fail(m.id || service, m.code, m.detail, m.status);
  } catch (bad) {
    try {
      fail(service, 500, `the handler threw ${kind(e)}, which cannot be sent as an error (${describe(bad)})`, undefined);
    } catch (_) { /* already answered */ }
  }
}

/**
 * A throwing handler or callback never kills the process: it is logged through Node's
 * warning hook (`process.on('warning')`, name `MicroWarning`; printed to stderr unless
 * `--no-warnings`) with its stack, and the service carries on.
 */
function reportCallbackError(where, e) {
  try {
    const stack = e instanceof Error && e.stack ? `\n${e.stack}` : '';
    process.emitWarning(`micro: ${where} threw ${describe(e)}${stack}`, 'MicroWarning');
  } catch (_) { /* nothing more we can do */ }
}

let watching = false;
/**
 * Once per process: when the event loop empties, warn about each service with handlers
 * or subscribers that was never started (a forgotten `await svc.start()`), then let the
 * process exit.
 */
function watchUnstarted() {
  if (watching) return;
  watching = true;
  process.once('beforeExit', () => {
    for (const svc of unstarted) {
      if (svc._state !== 'new' || (svc._handlers.size === 0 && svc._subs.length === 0)) continue;
      const subs = svc._subs.filter(Boolean).length;
      const what = [...svc._handlers.keys(), ...(subs ? [`${subs} subscriber(s)`] : [])];
      process.emitWarning(`micro: service ${svc.name} was never started, so nobody could call it (${what.join(', ')}): call await svc.start()`, 'MicroWarning');
    }
  });
}

module.exports = { ServerStream, Service };
