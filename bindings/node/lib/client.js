'use strict';
// Calling services: Client, ClientStream, Reply, and Registry (Python: micro/client.py).
// Each method checks its arguments, encodes the body (lib/body.js) and hands bytes to the
// native client; replies are decoded here, on the event loop.

const { AsyncLocalStorage } = require('node:async_hooks');
const native = require('./native');
const { MicroError, NODE_ID, bad, toMicro } = require('./errors');
const { JSON: JSON_TYPE, encode, encodeText, decode, parseJson } = require('./body');

/** Calls `f` and rejects with a MicroError for anything it throws or rejects with (Python: `_wait`). */
function guardAsync(f) {
  return new Promise((resolve) => resolve(f())).catch((e) => { throw toMicro(e); });
}

/** Calls `f` and rethrows anything as a MicroError, sync or async (Python: `_native_call`). */
function guard(f) {
  let r;
  try {
    r = f();
  } catch (e) {
    throw toMicro(e);
  }
  if (r && typeof r.then === 'function') return r.then(undefined, (e) => { throw toMicro(e); });
  return r;
}

/** `o` if it is a plain object, `{}` if absent; else a 400 naming `what`. */
function checkObject(o, what) {
  if (o === undefined || o === null) return {};
  if (typeof o !== 'object' || Array.isArray(o)) throw bad(`${what} must be an object, got ${Array.isArray(o) ? 'an array' : typeof o}`);
  return o;
}

/** `v` if it is a non-empty string; else a 400 naming `what`. */
function checkString(v, what) {
  if (typeof v !== 'string' || v.length === 0) throw bad(`${what} must be a non-empty string, got ${v === '' ? 'an empty string' : typeof v}`);
  return v;
}

/**
 * The W3C trace context (go-micro's `Traceparent` metadata) of the request or message a
 * handler is running for: calls and publishes made from it carry it on, so the trace
 * continues through this service.
 */
const traceContext = new AsyncLocalStorage();

/** `metadata` with the running handler's `Traceparent` added, unless it names one itself. */
function withTrace(metadata) {
  const tp = traceContext.getStore();
  if (tp === undefined) return metadata;
  if (metadata && Object.keys(metadata).some((k) => k.toLowerCase() === 'traceparent')) return metadata;
  return { ...(metadata || {}), Traceparent: tp };
}

/** The `Traceparent` in a request's or message's headers (any case), or undefined. */
function headerTraceparent(header) {
  for (const k of Object.keys(header || {})) if (k.toLowerCase() === 'traceparent') return header[k];
  return undefined;
}

/** An object's values as strings (headers, metadata). */
function stringMap(m, what) {
  const o = checkObject(m, what);
  const out = {};
  for (const [k, v] of Object.entries(o)) out[k] = String(v);
  return out;
}

/** The longest call timeout accepted, in milliseconds (an hour): anything longer is a unit mistake. */
const MAX_TIMEOUT_MS = 3600000;

/**
 * `v` as milliseconds, checked: a number, at least 1 (0 too if `zero`), at most `most`;
 * otherwise a 400 that names the unit (Node durations are milliseconds, Python's seconds).
 */
function checkMillis(v, what, { most = MAX_TIMEOUT_MS, zero = false } = {}) {
  if (typeof v !== 'number' || Number.isNaN(v)) throw bad(`${what} must be a number of milliseconds, got ${typeof v === 'number' ? 'NaN' : typeof v}`);
  if (v < 0 || !Number.isFinite(v)) throw bad(`${what} must be a positive number of milliseconds, got ${v}`);
  if (v === 0 && zero) return v;
  if (v < 1) throw bad(`${what}: ${v} ms is less than a millisecond; Node durations are milliseconds (${what}: 500 is half a second)`);
  if (v > most) throw bad(`${what}: ${v} ms is more than the ${most} ms accepted; Node durations are milliseconds, not microseconds or nanoseconds`);
  return v;
}

/** Services this process created and has not started: a lookup that misses one says so. */
const unstarted = new Set();

/** `e` (a MicroError) with a hint when it is a 404 for a service this process created but never started. */
function missed(e, service) {
  if (e instanceof MicroError && e.code === 404 && e.id === 'go.micro.client') {
    for (const s of unstarted) {
      if (s._state === 'new' && s.name === service) {
        return new MicroError({ id: e.id, code: e.code, status: e.status, detail: `${e.detail}; hint: this process created service ${service} but never started it (await svc.start() before calling it)` });
      }
    }
  }
  return e;
}

/** `v` as a count the native side takes as a u32 (`retries`, `poolSize`): a 400 naming
 * `what` for anything else, where napi would wrap -1 round to 4294967295. */
function checkCount(v, what) {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw bad(`${what} must be a non-negative integer, got ${typeof v === 'number' ? v : typeof v}`);
  }
  if (v > 0xffffffff) throw bad(`${what} must be at most 4294967295, got ${v}`);
  return v;
}

/** A call's or stream's options, checked, as the native client takes them. */
function callOptions(opts) {
  const o = checkObject(opts, 'options');
  const out = {};
  for (const k of ['contentType']) if (o[k] !== undefined) out[k] = o[k];
  for (const k of ['timeout', 'requestTimeout']) {
    if (o[k] !== undefined) out[k] = checkMillis(o[k], k);
  }
  if (o.retries !== undefined) out.retries = checkCount(o.retries, 'retries');
  if (o.retryTimeouts !== undefined) {
    if (typeof o.retryTimeouts !== 'boolean') throw bad(`retryTimeouts must be a boolean, got ${typeof o.retryTimeouts}`);
    out.retryTimeouts = o.retryTimeouts;
  }
  if (o.metadata !== undefined) out.metadata = stringMap(o.metadata, 'metadata');
  if (o.address !== undefined) {
    const a = Array.isArray(o.address) ? o.address : [o.address];
    for (const x of a) checkString(x, 'address');
    out.address = a;
  }
  return out;
}

/** A reply: the raw body, its content type, headers and the node that answered. */
class Reply {
  constructor(r) {
    /** The raw body. */
    this.raw = r.body;
    /** The body's content type. */
    this.contentType = r.contentType;
    /** Reply headers. */
    this.header = r.header || {};
    /** The node that answered. */
    this.node = r.node || '';
  }

  /** The body decoded by content type (a JSON reply that does not parse is a 500). */
  get body() {
    return decode(this.raw, this.contentType, 'reply');
  }
}

/** An open bidirectional stream, client side; `for await (const m of stream)` reads it. */
class ClientStream {
  constructor(nat, contentType) {
    this._n = nat;
    this._ct = contentType;
    this._closed = false;
  }

  /** The id of the node serving the stream. */
  get node() {
    return this._n.node;
  }

  /** Whether `close()` was called. */
  get closed() {
    return this._closed;
  }

  /** Sends one message (encoded like a call body). */
  send(msg) {
    if (this._closed) return Promise.reject(new MicroError({ id: NODE_ID, code: 499, detail: 'the stream is closed' }));
    return guardAsync(() => {
      const [buf] = encode(msg, this._ct);
      return this._n.send(buf);
    });
  }

  /** The next message decoded, or `null` once the server ended the stream. */
  async recv() {
    const b = await guard(() => this._n.recv());
    return b === null ? null : decode(b, this._ct, 'reply');
  }

  /** Ends the client's side; receiving continues. */
  closeSend() {
    return guard(() => this._n.closeSend());
  }

  /** Closes the stream. */
  close() {
    this._closed = true;
    return guard(() => this._n.close());
  }

  async *[Symbol.asyncIterator]() {
    for (;;) {
      const m = await this.recv();
      if (m === null) return;
      yield m;
    }
  }
}

let requestWarned = false; // Client.request() has said it is deprecated

/** An RPC client (options by object; defaults from go-micro's MICRO_* variables). */
class Client {
  constructor(opts, _native) {
    if (_native) {
      this._n = _native;
      this._ct = undefined;
      return;
    }
    const o = checkObject(opts, 'options');
    const n = {};
    for (const k of ['registry', 'contentType', 'broker']) if (o[k] !== undefined) n[k] = checkString(o[k], k);
    if (o.requestTimeout !== undefined) n.requestTimeout = checkMillis(o.requestTimeout, 'requestTimeout');
    for (const k of ['retries', 'poolSize']) if (o[k] !== undefined) n[k] = checkCount(o[k], k);
    if (o.selector !== undefined) {
      if (typeof o.selector !== 'string') throw bad(`selector must be 'random' or 'roundrobin', got ${typeof o.selector}`);
      n.selector = o.selector;
    }
    this._ct = n.contentType;
    this._n = guard(() => new native.NativeClient(n));
    if (o.wrappers !== undefined) {
      if (!Array.isArray(o.wrappers)) throw bad(`wrappers must be an array of functions, got ${typeof o.wrappers}`);
      for (const w of o.wrappers) this.wrap(w);
    }
  }

  /**
   * Adds a client wrapper `async (call, next) => reply`: it sees the call (service,
   * endpoint, body, contentType, metadata, timeout, requestTimeout, retries, retryTimeouts,
   * address), may change it, resolves to `await next(call)` (the Reply, which it may change)
   * or its own Reply without calling the service. The first added is the outermost. Returns `this`.
   */
  wrap(fn) {
    if (typeof fn !== 'function') throw bad(`a client wrapper must be a function (call, next), got ${typeof fn}`);
    if (!this._wrappers) this._wrappers = [];
    this._wrappers.push(fn);
    return this;
  }

  /** Releases the client; later calls fail with a 499. */
  close() {
    this._n = null;
  }

  /** Whether `close()` was called. */
  get closed() {
    return this._n === null;
  }

  /** Publishes `body` on `topic` (go-micro's client.Publish). */
  publish(topic, body, opts) {
    return guardAsync(() => {
      const n = this._live();
      checkString(topic, 'topic');
      const o = checkObject(opts, 'options');
      const [buf, ct] = encode(body, o.contentType);
      const md = withTrace(o.metadata === undefined ? undefined : stringMap(o.metadata, 'metadata'));
      return n.publish(topic, buf, ct, md);
    });
  }

  /** Like `call`, resolving to a `Reply` (raw body, content type, header, node). */
  callRaw(service, endpoint, body, opts) {
    if (!this._wrappers || this._wrappers.length === 0) return this._perform(service, endpoint, body, opts);
    return guardAsync(() => {
      const o = checkObject(opts, 'options');
      const call = { ...o, service, endpoint, body, metadata: { ...(o.metadata || {}) } };
      return this._chain(0, call);
    });
  }

  /** Runs wrapper `i` (or, past the last, the call itself) on `call`. */
  _chain(i, call) {
    if (i === this._wrappers.length) {
      const { service, endpoint, body, ...opts } = call;
      return this._perform(service, endpoint, body, opts);
    }
    const next = (c) => guardAsync(() => {
      if (c === null || typeof c !== 'object') throw new TypeError(`a client wrapper must pass the call object to next(), got ${c === null ? 'null' : typeof c}`);
      return this._chain(i + 1, c);
    });
    return Promise.resolve(this._wrappers[i](call, next)).then((r) => {
      if (!(r instanceof Reply)) throw new TypeError(`a client wrapper must resolve to a Reply, got ${r === null ? 'null' : typeof r}`);
      return r;
    });
  }

  /**
   * A call's arguments checked: `[native client, options (the trace added to the metadata,
   * the content type set), body]`, the body as `enc` (`encode` or `encodeText`) makes it.
   */
  _checked(service, endpoint, body, opts, enc) {
    const n = this._live();
    checkString(service, 'service');
    checkString(endpoint, 'endpoint');
    const o = callOptions(opts);
    const md = withTrace(o.metadata);
    if (md !== undefined) o.metadata = md;
    const [data, ct] = enc(body, o.contentType || this._ct);
    o.contentType = ct;
    return [n, o, data];
  }

  /** The call itself, no wrappers. */
  _perform(service, endpoint, body, opts) {
    return guardAsync(() => {
      const [n, o, buf] = this._checked(service, endpoint, body, opts, encode);
      return n.call(service, endpoint, buf, o).then((r) => new Reply(r));
    }).catch((e) => { throw missed(e, service); });
  }

  /** Deprecated: `callRaw` (the name both hosts use); warns once per process. */
  request(service, endpoint, body, opts) {
    if (!requestWarned) {
      requestWarned = true;
      process.emitWarning('micro: Client.request() is deprecated; use callRaw()', { type: 'DeprecationWarning', code: 'MICRO_REQUEST' });
    }
    return this.callRaw(service, endpoint, body, opts);
  }

  /** Calls `service`'s `endpoint` and resolves to the reply body decoded by content type. */
  call(service, endpoint, body, opts) {
    if (this._wrappers && this._wrappers.length > 0) return this.callRaw(service, endpoint, body, opts).then((r) => r.body);
    // What `callRaw(...).body` gives, without the Reply: the native side hands a JSON reply
    // over as its text, so no Buffer, header object or node string is made per call.
    let n, o, data;
    try {
      [n, o, data] = this._checked(service, endpoint, body, opts, encodeText);
    } catch (e) {
      return Promise.reject(toMicro(e));
    }
    const ct = o.contentType;
    const rest = o.timeout === undefined && o.requestTimeout === undefined && o.retries === undefined
      && o.retryTimeouts === undefined && o.metadata === undefined
      ? null
      : { timeout: o.timeout, requestTimeout: o.requestTimeout, retries: o.retries, retryTimeouts: o.retryTimeouts, metadata: o.metadata };
    let pending;
    try {
      pending = n.callBody(service, endpoint, data, ct, o.address === undefined ? null : o.address, rest);
    } catch (e) {
      return Promise.reject(missed(toMicro(e), service));
    }
    return pending.then(
      (r) => (typeof r === 'string' ? parseJson(r, ct, 'reply') : decode(r.body, r.contentType, 'reply')),
      (e) => { throw missed(toMicro(e), service); },
    );
  }

  /** Opens a bidirectional stream. */
  async stream(service, endpoint, opts) {
    const n = guard(() => this._live());
    checkString(service, 'service');
    checkString(endpoint, 'endpoint');
    const o = callOptions(opts);
    const ct = o.contentType || this._ct || JSON_TYPE;
    o.contentType = ct;
    const s = await guard(() => n.stream(service, endpoint, o)).catch((e) => { throw missed(e, service); });
    return new ClientStream(s, ct);
  }

  _live() {
    if (!this._n) throw new MicroError({ id: NODE_ID, code: 499, detail: 'the client is closed' });
    return this._n;
  }
}

/**
 * A registry opened by URL (`mdns`, `memory`, `etcd://host:port`; default MICRO_REGISTRY,
 * else mDNS), or a service's own (`svc.registry()`). Results are go-micro's registry model:
 * `name`, `version`, `metadata`, `endpoints` and `nodes` (`id`, `address`, `metadata`).
 */
class Registry {
  constructor(url, _native) {
    if (_native) {
      this._n = _native;
      return;
    }
    if (url !== undefined && url !== null) checkString(url, 'registry url');
    this._n = guard(() => new native.NativeRegistry(url || undefined));
  }

  /** Every version of `name` with its nodes (`[]` when nobody serves it). */
  async getService(name) {
    checkString(name, 'service name');
    return JSON.parse(await guard(() => this._n.getService(name)));
  }

  /**
   * Every service known, without nodes (as go-micro's ListServices: mDNS knows only the
   * names; memory and etcd add versions and endpoints).
   */
  async listServices() {
    return JSON.parse(await guard(() => this._n.listServices()));
  }
}

module.exports = {
  Reply, ClientStream, Client, Registry, guard, guardAsync, checkObject, checkString, checkMillis, stringMap, unstarted,
  traceContext, headerTraceparent,
};
