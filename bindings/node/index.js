'use strict';
// micro for Node: join a go-micro mesh in-process. See index.d.ts for the API.
//
// The native module (micro.node, built from src/ with `npm run build`) exposes Promises and
// pull primitives only; this file dispatches handlers on the event loop, so no JavaScript
// ever runs on the library's threads.

const path = require('node:path');

function loadNative() {
  const file = process.env.MICRO_NODE_ADDON || path.join(__dirname, 'micro.node');
  try {
    return require(file);
  } catch (e) {
    const err = new Error(`micro: cannot load the native module ${file} (run \`npm run build\` in bindings/node): ${e.message}`);
    err.cause = e;
    throw err;
  }
}

const native = loadNative();
const NODE_ID = 'micro.node';
const PREFIX = 'MICRO_ERROR';

/**
 * A go-micro error: `{id, code, detail, status}`, on the wire as JSON. Without a status,
 * it is derived from the code as go-micro's `errors.New` does (Go's `http.StatusText`).
 */
class MicroError extends Error {
  constructor(id, code, detail, status) {
    const c = Number.isInteger(code) && code >= -2147483648 && code <= 2147483647 ? code : 500;
    super(detail === undefined || detail === null ? '' : String(detail));
    this.name = 'MicroError';
    this.id = id === undefined || id === null ? '' : String(id);
    this.code = c;
    this.detail = this.message;
    this.status = status || native.statusText(c);
  }

  /** The error as go-micro's JSON object. */
  toJSON() {
    return { id: this.id, code: this.code, detail: this.detail, status: this.status };
  }

  /** `MicroError <code> <id>: <detail>`. */
  toString() {
    return `MicroError ${this.code} ${this.id}: ${this.detail}`;
  }
}

/** Turns a native error (or anything thrown) into a MicroError. */
function toMicro(e) {
  if (e instanceof MicroError) return e;
  const msg = e && typeof e.message === 'string' ? e.message : String(e);
  if (msg.startsWith(PREFIX)) {
    try {
      const j = JSON.parse(msg.slice(PREFIX.length));
      return new MicroError(j.id, j.code, j.detail, j.status);
    } catch (_) { /* fall through */ }
  }
  if (e && e.code === 'InvalidArg') return new MicroError(NODE_ID, 400, msg);
  return new MicroError(NODE_ID, 500, msg);
}

/** Calls `f` and rejects with a MicroError for anything it throws or rejects with. */
function guardAsync(f) {
  return new Promise((resolve) => resolve(f())).catch((e) => { throw toMicro(e); });
}

/** Calls `f` and rethrows anything as a MicroError (sync or async). */
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

function bad(detail) {
  return new MicroError(NODE_ID, 400, detail);
}

function isJson(ct) {
  return typeof ct === 'string' && /json/i.test(ct);
}

/**
 * Encodes a body: Buffer/Uint8Array/ArrayBuffer as they are (content type as given, else
 * application/octet-stream); anything else as JSON (application/json unless a JSON content
 * type was given).
 */
function encode(body, contentType) {
  if (contentType !== undefined && contentType !== null && typeof contentType !== 'string') {
    throw bad(`contentType must be a string, got ${typeof contentType}`);
  }
  if (Buffer.isBuffer(body)) return [body, contentType || 'application/octet-stream'];
  if (ArrayBuffer.isView(body)) {
    return [Buffer.from(body.buffer, body.byteOffset, body.byteLength), contentType || 'application/octet-stream'];
  }
  if (body instanceof ArrayBuffer) return [Buffer.from(body), contentType || 'application/octet-stream'];
  if (contentType && !isJson(contentType)) {
    throw bad(`a ${typeof body} body needs a JSON content type, not ${contentType}; pass a Buffer or Uint8Array for ${contentType}`);
  }
  let text;
  try {
    text = JSON.stringify(body === undefined ? {} : body);
  } catch (e) {
    throw bad(`body cannot be encoded as JSON: ${e.message}`);
  }
  if (text === undefined) throw bad(`a ${typeof body} cannot be encoded as JSON`);
  return [Buffer.from(text), contentType || 'application/json'];
}

/** Decodes a body by content type: JSON parsed, text/* as a string, else the Buffer. */
function decode(buf, contentType) {
  if (isJson(contentType)) {
    if (buf.length === 0) return null;
    try {
      return JSON.parse(buf.toString('utf8'));
    } catch (e) {
      throw new MicroError(NODE_ID, 500, `reply is not valid JSON (${contentType}): ${e.message}`);
    }
  }
  if (typeof contentType === 'string' && contentType.startsWith('text/')) return buf.toString('utf8');
  return buf;
}

function checkObject(o, what) {
  if (o === undefined || o === null) return {};
  if (typeof o !== 'object' || Array.isArray(o)) throw bad(`${what} must be an object, got ${Array.isArray(o) ? 'an array' : typeof o}`);
  return o;
}

function checkString(v, what) {
  if (typeof v !== 'string' || v.length === 0) throw bad(`${what} must be a non-empty string, got ${v === '' ? 'an empty string' : typeof v}`);
  return v;
}

function callOptions(opts) {
  const o = checkObject(opts, 'options');
  const out = {};
  for (const k of ['contentType']) if (o[k] !== undefined) out[k] = o[k];
  for (const k of ['timeout', 'requestTimeout']) {
    if (o[k] !== undefined) {
      if (typeof o[k] !== 'number') throw bad(`${k} must be a number of milliseconds, got ${typeof o[k]}`);
      out[k] = o[k];
    }
  }
  if (o.retries !== undefined) {
    if (!Number.isInteger(o.retries) || o.retries < 0) throw bad(`retries must be a non-negative integer, got ${o.retries}`);
    out.retries = o.retries;
  }
  if (o.metadata !== undefined) out.metadata = stringMap(o.metadata, 'metadata');
  if (o.address !== undefined) {
    const a = Array.isArray(o.address) ? o.address : [o.address];
    for (const x of a) checkString(x, 'address');
    out.address = a;
  }
  return out;
}

function stringMap(m, what) {
  const o = checkObject(m, what);
  const out = {};
  for (const [k, v] of Object.entries(o)) out[k] = String(v);
  return out;
}

/** A decoded reply with its raw parts. */
class Reply {
  constructor(r) {
    /** The raw body. */
    this.raw = r.body;
    /** The body's content type. */
    this.contentType = r.contentType;
    /** Reply headers. */
    this.header = r.header;
    /** The node that answered. */
    this.node = r.node;
  }

  /** The body decoded by content type. */
  get body() {
    return decode(this.raw, this.contentType);
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

  /** Sends one message (encoded like a call body). */
  send(msg) {
    if (this._closed) return Promise.reject(new MicroError(NODE_ID, 499, 'the stream is closed'));
    return guardAsync(() => {
      const [buf] = encode(msg, this._ct);
      return this._n.send(buf);
    });
  }

  /** The next message decoded, or `null` once the server ended the stream. */
  async recv() {
    const b = await guard(() => this._n.recv());
    return b === null ? null : decode(b, this._ct);
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
    for (const k of ['requestTimeout', 'retries', 'poolSize']) if (o[k] !== undefined) n[k] = o[k];
    if (o.selector !== undefined) {
      if (typeof o.selector !== 'string') throw bad(`selector must be 'random' or 'roundrobin', got ${typeof o.selector}`);
      n.selector = o.selector;
    }
    this._ct = n.contentType;
    this._n = guard(() => new native.NativeClient(n));
  }

  _live() {
    if (!this._n) throw new MicroError(NODE_ID, 499, 'the client is closed');
    return this._n;
  }

  /** Calls `service`'s `endpoint` and resolves to the reply body decoded by content type. */
  async call(service, endpoint, body, opts) {
    return (await this.callRaw(service, endpoint, body, opts)).body;
  }

  /** Like `call`, resolving to a `Reply` (raw body, content type, header, node). */
  callRaw(service, endpoint, body, opts) {
    return guardAsync(() => {
      const n = this._live();
      checkString(service, 'service');
      checkString(endpoint, 'endpoint');
      const o = callOptions(opts);
      const [buf, ct] = encode(body, o.contentType || this._ct);
      o.contentType = ct;
      return n.call(service, endpoint, buf, o).then((r) => new Reply(r));
    });
  }

  /** Opens a bidirectional stream. */
  async stream(service, endpoint, opts) {
    const n = guard(() => this._live());
    checkString(service, 'service');
    checkString(endpoint, 'endpoint');
    const o = callOptions(opts);
    const ct = o.contentType || this._ct || 'application/json';
    o.contentType = ct;
    const s = await guard(() => n.stream(service, endpoint, o));
    return new ClientStream(s, ct);
  }

  /** Publishes `body` on `topic` (go-micro's client.Publish). */
  publish(topic, body, opts) {
    return guardAsync(() => {
      const n = this._live();
      checkString(topic, 'topic');
      const o = checkObject(opts, 'options');
      const [buf, ct] = encode(body, o.contentType);
      return n.publish(topic, buf, ct, o.metadata === undefined ? undefined : stringMap(o.metadata, 'metadata'));
    });
  }

  /** Releases the client; later calls fail with a 499. */
  close() {
    this._n = null;
  }
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

  /** Sends one message to the client. */
  send(msg) {
    return guardAsync(() => {
      const [buf] = encode(msg, this._ct);
      return this._r.send(buf);
    });
  }

  /** The next message from the client, or `null` after its end. */
  async recv() {
    const b = await guard(() => this._r.recv());
    return b === null ? null : decode(b, this._ct);
  }

  async *[Symbol.asyncIterator]() {
    for (;;) {
      const m = await this.recv();
      if (m === null) return;
      yield m;
    }
  }
}

function reportCallbackError(where, e) {
  // A throwing callback never kills the process: report it and carry on.
  try {
    process.emitWarning(`micro: ${where} threw: ${e && e.stack ? e.stack : e}`, 'MicroWarning');
  } catch (_) { /* nothing more we can do */ }
}

function failWith(nr, e, service) {
  const m = e instanceof MicroError ? e : new MicroError(service, 500, e && e.message !== undefined ? e.message : String(e));
  try {
    nr.fail(m.id || service, m.code, m.detail, m.status);
  } catch (_) { /* already answered */ }
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
    for (const k of ['registerTtl', 'registerInterval', 'maxMessageSize', 'maxConcurrency']) {
      if (o[k] !== undefined) {
        if (typeof o[k] !== 'number') throw bad(`${k} must be a number, got ${typeof o[k]}`);
        n[k] = o[k];
      }
    }
    if (o.metadata !== undefined) n.metadata = stringMap(o.metadata, 'metadata');
    this._n = guard(() => new native.NativeService(n));
    this._handlers = new Map();
    this._subs = [];
    this._state = 'new';
    this._pump = null;
    this._client = null;
  }

  /** The service name. */
  get name() { return this._n.name; }
  /** The node id. */
  get id() { return this._n.id; }
  /** The registered address once started, else null. */
  get address() { return this._n.address; }
  /** The bound listener address once started, else null. */
  get bound() { return this._n.bound; }

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
    this._pump = this._run();
    return this;
  }

  async _run() {
    for (;;) {
      let batch;
      try {
        batch = await this._n.nextRequests(256);
      } catch (e) {
        reportCallbackError('nextRequests', e);
        return;
      }
      if (batch.length === 0) return;
      for (const r of batch) this._dispatch(r);
    }
  }

  _dispatch(nr) {
    const svc = this._n.name;
    if (nr.kind === 'message') {
      const fn = this._subs[nr.subscriber];
      const msg = { topic: nr.topic, header: nr.header, contentType: nr.contentType, raw: nr.body };
      let run;
      try {
        run = Promise.resolve(fn(decode(msg.raw, msg.contentType || 'application/json'), msg));
      } catch (e) {
        run = Promise.reject(e);
      }
      run.then(() => { try { nr.respond(); } catch (_) { /* answered */ } },
        (e) => { reportCallbackError(`subscriber for ${nr.topic}`, e); failWith(nr, e, svc); });
      return;
    }
    const fn = this._handlers.get(nr.endpoint);
    const ct = nr.contentType || 'application/json';
    const req = { service: nr.service, endpoint: nr.endpoint, contentType: ct, header: nr.header };
    let run;
    try {
      if (!fn) throw new MicroError(svc, 404, `unknown endpoint ${nr.endpoint}`);
      if (nr.kind === 'stream') {
        run = Promise.resolve(fn(new ServerStream(nr, ct), req));
      } else {
        const raw = nr.body;
        req.raw = raw;
        run = Promise.resolve(fn(decode(raw, ct), req));
      }
    } catch (e) {
      run = Promise.reject(e);
    }
    run.then((out) => {
      try {
        if (nr.kind === 'stream') {
          nr.respond();
        } else {
          const [buf, rct] = encode(out === undefined ? {} : out, isJson(ct) || isBinary(out) ? ct : undefined);
          nr.respond(buf, rct);
        }
      } catch (e) {
        const m = toMicro(e);
        failWith(nr, new MicroError(svc, m.code === 400 ? 500 : m.code, `reply: ${m.detail}`), svc);
      }
    }, (e) => failWith(nr, e, svc));
  }

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

  /** Deregisters, drains calls in flight and stops; the process may then exit. */
  async close() {
    if (this._state === 'closed') return;
    const was = this._state;
    this._state = 'closed';
    if (was === 'started') {
      await guard(() => this._n.stop());
      await this._pump;
    }
  }
}

function isBinary(v) {
  return Buffer.isBuffer(v) || ArrayBuffer.isView(v) || v instanceof ArrayBuffer;
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
  Service,
  Client,
  ClientStream,
  ServerStream,
  Registry,
  Reply,
  MicroError,
  encode,
  decode,
  version: native.version(),
  native,
};
module.exports.default = module.exports;
