// Type declarations for `micro` (index.js re-exporting lib/*.js, over the native module micro.node).
// Every declaration and member has a TSDoc comment (scripts/docs_check.py tsdoc checks it).
// Errors: every failure the library reports is a MicroError (go-micro's {id, code, detail,
// status}); an argument of the wrong type or value is a 400 whose id is `micro.node`.

/// <reference types="node" />

/** A body: objects go as JSON; Buffer / Uint8Array / ArrayBuffer go as they are. */
export type Body = unknown;

/** The fields of a MicroError: `new MicroError({ id, code, detail })`. */
export interface MicroErrorOptions {
  /** Who raised it (a service name); a handler's error without one gets the service's. */
  id?: string;
  /** HTTP-like code, an integer (default 500). */
  code?: number;
  /** What went wrong. */
  detail?: string;
  /** The reason phrase; derived from the code when absent (Go's `http.StatusText`). */
  status?: string;
  /** The error this one wraps (kept as `cause`; not sent on the wire). */
  cause?: unknown;
}

/**
 * A go-micro error: `{id, code, detail, status}`, on the wire as JSON. Build it from one
 * options object; the positional `(id, code, detail, status)` form is kept where its types
 * cannot be misread. Wrong arguments (go-micro's `(id, detail, code)` order, unknown
 * options) throw a TypeError that shows the options form.
 */
export declare class MicroError extends Error {
  /**
   * An error from its fields; `code` defaults to 500 and `status` to the code's text.
   * @throws TypeError for unknown options or a field of the wrong type.
   * @example
   * throw new MicroError({ id: 'orders', code: 409, detail: 'out of stock' });
   */
  constructor(options: MicroErrorOptions);
  /**
   * The positional form: a string id, an integer code, then detail and status.
   * @throws TypeError when the types do not fit (go-micro's `(id, detail, code)` order).
   */
  constructor(id: string, code: number, detail?: string, status?: string);
  /**
   * A new error for a downstream failure, keeping `cause` in its detail (go-micro's JSON)
   * and as `cause`: `throw MicroError.wrap(e, { code: 502 })`. Code 502 by default.
   * @throws TypeError when `options` is not an object.
   */
  static wrap(cause: unknown, options?: {
    /** The new error's code (default 502). */
    code?: number;
    /** The new error's id (default: empty, so a handler's error gets the service's). */
    id?: string;
    /** Put before the cause in the detail (default `downstream call failed`). */
    detail?: string;
  }): MicroError;
  /** Who raised it: a service name, `go.micro.client`, `micro.node`, … (may be empty). */
  readonly id: string;
  /** The HTTP-like code: 400 bad request, 404 not found, 408 timeout, 500, 503 … */
  readonly code: number;
  /** What went wrong (also the Error's `message`). */
  readonly detail: string;
  /** The code's reason phrase (`Not Found`), or the one given. */
  readonly status: string;
  /** The error as go-micro's JSON object (what `JSON.stringify` writes). */
  toJSON(): {
    /** Who raised it. */
    id: string;
    /** The HTTP-like code. */
    code: number;
    /** What went wrong. */
    detail: string;
    /** The code's reason phrase. */
    status: string;
  };
  /** `MicroError <code> <id>: <detail>`. */
  toString(): string;
}

/**
 * Service options; unset ones fall back to go-micro's MICRO_* variables (a bad value is a
 * MicroError naming the variable). Durations are milliseconds (registerTtl, registerInterval:
 * 0 to 86,400,000).
 */
export interface ServiceOptions {
  /** The service name; a set MICRO_SERVER_NAME overrides it (as go-micro's Init does). */
  name?: string;
  /** MICRO_SERVER_VERSION, default `latest`. */
  version?: string;
  /** Listen address `host:port` (`:0` picks a port). MICRO_SERVER_ADDRESS. */
  address?: string;
  /** Address registered instead of the bound one. MICRO_SERVER_ADVERTISE. */
  advertise?: string;
  /** Node id, default `<name>-<uuid>`. MICRO_SERVER_ID. */
  id?: string;
  /** Node metadata, merged with MICRO_SERVER_METADATA (`k=v,k=v`). */
  metadata?: Record<string, string>;
  /** `mdns` (default), `memory`, `etcd://host:port`, `consul://host:port`, `nats://host:4222`. MICRO_REGISTRY. */
  registry?: string;
  /** How long the registry keeps a node without a renewal, in milliseconds (default 90,000). MICRO_REGISTER_TTL. */
  registerTtl?: number;
  /** How often the node re-registers, in milliseconds (default 30,000). MICRO_REGISTER_INTERVAL. */
  registerInterval?: number;
  /** Largest request or message accepted, in bytes (default 4 MiB). MICRO_MAX_MESSAGE_SIZE. */
  maxMessageSize?: number;
  /** `http` (default), `memory`, `nats://host:4222`. MICRO_BROKER. */
  broker?: string;
  /**
   * At most this many calls in handlers at once; a call beyond it waits for a slot within
   * its caller's timeout. Omitted: no limit (go-micro's behaviour).
   */
  maxConcurrency?: number;
}

/** What a handler learns about its call. */
export interface RequestInfo {
  /** The service the caller addressed. */
  service: string;
  /** The endpoint called, `Handler.Method`. */
  endpoint: string;
  /** The request's content type (`application/json` when the caller sent none). */
  contentType: string;
  /**
   * The request headers: go-micro's context metadata (pass them on with `metadata`). For a
   * unary call, `service` and `header` are fetched from the native side when first read;
   * read for the first time only after the call was answered (a context kept past its
   * handler), they are the service's own name and `{}`.
   */
  header: Record<string, string>;
  /** The raw body (unary calls). */
  raw?: Buffer;
}

/** A message delivered to a subscriber. */
export interface Message {
  /** The topic it was published on. */
  topic: string;
  /** Its headers, as the publisher sent them (with `Content-Type`, `Micro-Topic`, `Micro-ID`). */
  header: Record<string, string>;
  /** Its content type (empty when the publisher sent none). */
  contentType: string;
  /** The body as published. */
  raw: Buffer;
  /** The body decoded by content type: set for subscriber wrappers (see `Service.wrapSubscriber`). */
  body?: any;
}

/** Options of `Service.handle`. */
export interface HandleOptions {
  /** A bidirectional stream endpoint. */
  stream?: boolean;
  /** Endpoint metadata registered with it. */
  metadata?: Record<string, string>;
}

/** A stream as a server handler sees it; `for await (const m of stream)` reads it. */
export declare class ServerStream implements AsyncIterable<any> {
  /** The service the client addressed. */
  readonly service: string;
  /** The stream's endpoint, `Handler.Method`. */
  readonly endpoint: string;
  /** The stream's content type; messages are encoded and decoded by it. */
  readonly contentType: string;
  /** The headers the client opened the stream with. */
  readonly header: Record<string, string>;
  /**
   * Sends one message to the client (encoded like a reply body).
   * @throws rejects with a MicroError: 499 once the handler returned or the service stopped,
   * 400 for a message that does not encode.
   */
  send(msg: Body): Promise<void>;
  /**
   * The next message from the client, decoded by content type, or `null` after its end.
   * @throws rejects with a 400 for a body that does not decode, a 499 once the stream finished.
   */
  recv(): Promise<any | null>;
  /** Reads the client's messages until its end (`recv` until `null`). */
  [Symbol.asyncIterator](): AsyncIterator<any>;
}

/**
 * A unary handler: gets the request body decoded by content type and returns the reply
 * (an object as JSON, a Buffer as it is; `undefined` is `{}`), plain or async. A thrown
 * MicroError goes to the caller as it is; anything else is a 500 naming its type.
 */
export type Handler = (body: any, req: RequestInfo) => Body | Promise<Body>;
/** A stream handler: talks through `stream`; the stream ends when it returns (or its promise settles). */
export type StreamHandler = (stream: ServerStream, req: RequestInfo) => void | Promise<void>;
/** A subscriber: gets each message's body decoded by content type; a throw or rejection is reported to the broker. */
export type Subscriber = (body: any, msg: Message) => void | Promise<void>;
/**
 * A handler wrapper (go-micro's server wrapper): sees the decoded request and its info, may
 * change them, resolves to `await next(req, ctx)` (the handler's reply, which it may change)
 * or answers itself without calling `next`. A throw is that call's error (a MicroError as
 * it is, anything else a 500); later calls are served as usual.
 */
export type HandlerWrapper = (req: any, ctx: RequestInfo, next: (req: any, ctx?: RequestInfo) => Promise<Body>) => Body | Promise<Body>;
/**
 * A subscriber wrapper: `await next(msg)` delivers `msg` to the subscriber (`msg.body` is
 * the decoded body); not calling `next` drops the message (acknowledged as handled).
 */
export type SubscriberWrapper = (msg: Message, next: (msg?: Message) => Promise<void>) => void | Promise<void>;

/**
 * A micro service: handle, subscribe, start, close.
 * @example
 * const svc = new Service({ name: 'greeter', registry: 'memory' });
 * svc.handle('Greeter.Hello', async (req) => ({ message: `Hello ${req.name}` }));
 * await svc.start();
 * // … later
 * await svc.close();
 */
export declare class Service {
  /**
   * A service from its name or options (nothing listens until `start`).
   * @throws MicroError 400 for a bad option (a name is required), or naming a MICRO_* variable that does not parse.
   */
  constructor(opts: ServiceOptions | string);
  /** The service name (MICRO_SERVER_NAME when set). */
  readonly name: string;
  /** The node id, `<name>-<uuid>` unless given. */
  readonly id: string;
  /** The registered `host:port` once started, else null. */
  readonly address: string | null;
  /** The bound listener `host:port` once started, else null. */
  readonly bound: string | null;
  /**
   * Serves `endpoint` (`Handler.Method`) with `fn(body, request)`, plain or async; its
   * return value is the reply. Returns the service, for chaining.
   * @throws MicroError 400 for a bad endpoint or a `fn` that is not a function; 499 once closed.
   */
  handle(endpoint: string, fn: Handler, opts?: HandleOptions & {
    /** Absent or false: a unary endpoint. */
    stream?: false;
  }): this;
  /**
   * Serves the stream endpoint `endpoint` with `fn(stream, request)`; the stream ends when
   * `fn` returns. Returns the service, for chaining.
   * @throws MicroError 400 for a bad endpoint or a `fn` that is not a function; 499 once closed.
   */
  handle(endpoint: string, fn: StreamHandler, opts: HandleOptions & {
    /** A bidirectional stream endpoint. */
    stream: true;
  }): this;
  /**
   * Subscribes `fn(body, message)` to `topic` through the service's broker; must precede
   * `start()`. Returns the service, for chaining.
   * @throws MicroError 409 after `start()`, 400 for a bad topic or `fn`, 499 once closed.
   */
  subscribe(topic: string, fn: Subscriber, opts?: {
    /** A queue group: each message goes to one subscriber of the group; without it every subscriber gets every message. */
    queue?: string;
  }): this;
  /**
   * Adds a handler wrapper around every unary handler, run on the event loop; the first
   * added is the outermost. Returns the service, for chaining.
   * @example
   * svc.wrap(async (req, ctx, next) => {
   *   const t = Date.now();
   *   try { return await next(req, ctx); } finally { console.log(ctx.endpoint, Date.now() - t, 'ms'); }
   * });
   * @throws MicroError 400 for a `fn` that is not a function; 499 once closed.
   */
  wrap(fn: HandlerWrapper): this;
  /**
   * Adds a subscriber wrapper around every subscriber; the first added is the outermost.
   * Returns the service, for chaining.
   * @throws MicroError 400 for a `fn` that is not a function; 499 once closed.
   */
  wrapSubscriber(fn: SubscriberWrapper): this;
  /** The endpoints as registered (go-micro's registry shape: `name`, `request`, `response`, `metadata`). */
  endpoints(): unknown[];
  /**
   * Listens and registers; resolves to the service. The process stays alive until `close()`.
   * @throws rejects with a MicroError: 409 when already started, 499 once closed, or the
   * listener's, registry's or broker's error.
   */
  start(): Promise<this>;
  /**
   * A client that shares this service's registry cache and broker (the same one each time).
   * @throws MicroError 499 once closed.
   */
  client(): Client;
  /**
   * The registry this service registers with: `getService(name)` shows its nodes, version,
   * metadata and endpoints as other members of the mesh see them.
   * @throws MicroError 499 once closed.
   */
  registry(): Registry;
  /** Deregisters, drains calls in flight and stops; the process may then exit. Idempotent. */
  close(): Promise<void>;
}

/** Client options; unset ones fall back to go-micro's MICRO_* variables. Durations in ms. */
export interface ClientOptions {
  /** `mdns` (default), `memory`, `etcd://host:port`, `consul://host:port`, `nats://host:4222`. MICRO_REGISTRY. */
  registry?: string;
  /** The content type of request bodies when a call sets none (default `application/json`). */
  contentType?: string;
  /** Budget of a whole call, all attempts, in milliseconds (1 to 3,600,000; default 30,000). MICRO_CLIENT_REQUEST_TIMEOUT. */
  requestTimeout?: number;
  /** Retries on another node after a refused connection (default 5). MICRO_CLIENT_RETRIES. */
  retries?: number;
  /** Idle connections kept per address (default 100). MICRO_CLIENT_POOL_SIZE. */
  poolSize?: number;
  /** How a node is picked among a service's nodes: `random` (go-micro's default) or `roundrobin`. MICRO_SELECTOR. */
  selector?: 'random' | 'roundrobin';
  /** The broker `publish` uses: `http` (default), `memory`, `nats://host:4222`. MICRO_BROKER. */
  broker?: string;
  /** Client wrappers, outermost first (more with `Client.wrap`). */
  wrappers?: CallWrapper[];
}

/** A call as a client wrapper sees it: the `call`/`callRaw` arguments; a wrapper may change any field. */
export interface Call extends CallOptions {
  /** The service called. */
  service: string;
  /** The endpoint, `Handler.Method`. */
  endpoint: string;
  /** The request body as given (encoded by `next`). */
  body?: Body;
  /** Headers sent with the call (always an object here, a copy of the call's own). */
  metadata: Record<string, string>;
}

/**
 * A client wrapper: sees the call, may change it, resolves to `await next(call)` (the
 * Reply, which it may change) or its own `Reply` without calling the service.
 */
export type CallWrapper = (call: Call, next: (call: Call) => Promise<Reply>) => Reply | Promise<Reply>;

/** Options of one call or stream. Durations in ms. */
export interface CallOptions {
  /** The request body's content type (default: the client's, else `application/json` or, for bytes, `application/octet-stream`). */
  contentType?: string;
  /** Per attempt (go-micro's `Timeout` header), in milliseconds: 1 to 3,600,000. */
  timeout?: number;
  /** The whole call, all attempts, in milliseconds: 1 to 3,600,000. */
  requestTimeout?: number;
  /** Retries on another node after a refused connection, a non-negative integer (default: the client's). */
  retries?: number;
  /**
   * Re-send after a timed-out attempt too, up to `retries` more attempts each bounded by
   * `timeout` (default false: a timeout is final). Only for endpoints safe to run twice:
   * go-micro servers now and then drop a request on a live connection, and this bounds the wait.
   */
  retryTimeouts?: boolean;
  /** Headers sent with the call (go-micro's context metadata); values become strings. */
  metadata?: Record<string, string>;
  /** Explicit `host:port` address(es), bypassing the registry. */
  address?: string | string[];
}

/** Options of `Client.publish`. */
export interface PublishOptions {
  /** The body's content type (default `application/json`, or `application/octet-stream` for bytes). */
  contentType?: string;
  /** Headers sent with the message, next to `Content-Type`, `Micro-Topic` and `Micro-ID`. */
  metadata?: Record<string, string>;
}

/** What `new Reply(...)` is built from. */
export interface ReplyParts {
  /** The raw body. */
  body: Buffer;
  /** Its content type. */
  contentType: string;
  /** Reply headers (default none). */
  header?: Record<string, string>;
  /** The node that answered (default empty). */
  node?: string;
}

/** A reply with its raw parts. */
export declare class Reply {
  /**
   * A reply built by hand, e.g. by a client wrapper that answers without calling the service.
   * @example new Reply({ body: Buffer.from('{"cached":true}'), contentType: 'application/json' })
   */
  constructor(parts: ReplyParts);
  /** The body as the server sent it. */
  readonly raw: Buffer;
  /** The body's content type. */
  readonly contentType: string;
  /** The reply headers. */
  readonly header: Record<string, string>;
  /** The id of the node that answered. */
  readonly node: string;
  /**
   * The body decoded by content type (JSON parsed, text as string, else Buffer).
   * @throws MicroError 500 for a JSON body that does not parse (or text that is not UTF-8).
   */
  readonly body: any;
}

/** An open bidirectional stream, client side; `for await (const m of stream)` reads it. */
export declare class ClientStream implements AsyncIterable<any> {
  /** The id of the node serving the stream. */
  readonly node: string;
  /** Whether `close()` was called. */
  readonly closed: boolean;
  /**
   * Sends one message (encoded like a call body).
   * @throws rejects with a MicroError: 499 after `close()`, 400 for a body that does not encode.
   */
  send(msg: Body): Promise<void>;
  /**
   * The next message decoded by content type, or `null` once the server ended the stream
   * (and after `close()`).
   * @throws rejects with a MicroError: the server's error, 500 for a body that does not decode.
   */
  recv(): Promise<any | null>;
  /** Ends the client's side (go-micro's end of stream); receiving continues. */
  closeSend(): Promise<void>;
  /** Closes the stream: sends the end of stream if still open and drops the connection. Idempotent. */
  close(): Promise<void>;
  /** Reads the server's messages until its end (`recv` until `null`). */
  [Symbol.asyncIterator](): AsyncIterator<any>;
}

/**
 * An RPC client: calls, streams and publishes, finding services through the registry.
 * Every method rejects with a MicroError.
 * @example
 * const client = new Client({ registry: 'memory', requestTimeout: 5000 });
 * const rsp = await client.call('greeter', 'Greeter.Hello', { name: 'John' });
 */
export declare class Client {
  /**
   * A client with its own registry and broker; options over go-micro's MICRO_* variables.
   * @throws MicroError 400 for a bad option (an unknown registry or selector, a timeout out of range).
   */
  constructor(opts?: ClientOptions);
  /** Releases the client; later calls reject with a 499. */
  close(): void;
  /**
   * Adds a client wrapper, run by `call`, `callRaw` and `request` on the event loop; the
   * first added is the outermost. Returns the client, for chaining.
   * @example
   * client.wrap(async (call, next) => { call.metadata['X-User'] = 'u1'; return next(call); });
   * @throws MicroError 400 for a `fn` that is not a function.
   */
  wrap(fn: CallWrapper): this;
  /** Whether `close()` was called. */
  readonly closed: boolean;
  /**
   * Publishes `body` on `topic` through the broker (go-micro's client.Publish); resolves
   * once the broker took it.
   * @throws rejects with a MicroError: 413 over the size limit; with the http broker, 404
   * when no subscriber is registered anywhere (the message stays queued: do not retry).
   */
  publish(topic: string, body: Body, opts?: PublishOptions): Promise<void>;
  /** Like `call`, resolving to the raw `Reply` (Python: `call_raw`). */
  callRaw(service: string, endpoint: string, body?: Body, opts?: CallOptions): Promise<Reply>;
  /** @deprecated Use `callRaw` (the name Python and Node share); warns once per process. */
  request(service: string, endpoint: string, body?: Body, opts?: CallOptions): Promise<Reply>;
  /**
   * Calls `service`'s `endpoint` and resolves to the reply body decoded by content type.
   * @param body An object (sent as JSON) or bytes (sent as they are, with `opts.contentType`).
   * @throws rejects with a MicroError: the handler's own error, 404 when no node serves
   * `service`, 408 when time runs out, 400 for bad arguments, 499 after `close()`.
   */
  call<T = any>(service: string, endpoint: string, body?: Body, opts?: CallOptions): Promise<T>;
  /**
   * Opens a bidirectional stream to `service`'s `endpoint`.
   * @throws rejects with a MicroError: 404 when no node serves `service`, 400 for bad arguments, 499 after `close()`.
   */
  stream(service: string, endpoint: string, opts?: CallOptions): Promise<ClientStream>;
}

/** A node of a service in the registry. */
export interface RegistryNode {
  /** The node id (`<name>-<uuid>`). */
  id: string;
  /** Where it listens, `host:port`. */
  address: string;
  /** Its metadata (`transport`, `protocol`, `registry`, `server`, `broker` …), or null. */
  metadata: Record<string, string> | null;
}

/** A service in the registry (go-micro's registry JSON). */
export interface RegistryService {
  /** The service name. */
  name: string;
  /** Its version (`latest` unless set). */
  version: string;
  /** Service metadata, or null. */
  metadata: Record<string, string> | null;
  /** Its endpoints as registered, or null (mDNS's `listServices` gives names only). */
  endpoints: {
    /** `Handler.Method`. */
    name: string;
    /** The request type as go-micro describes it (`{name, type, values}`), or null. */
    request?: unknown;
    /** The response type as go-micro describes it (`{name, type, values}`), or null. */
    response?: unknown;
    /** Endpoint metadata (`stream: "true"` for a stream endpoint), or null. */
    metadata: Record<string, string> | null;
  }[] | null;
  /** The nodes serving this version, or null (`listServices` gives none). */
  nodes: RegistryNode[] | null;
}

/** A registry opened by URL (`mdns`, `memory`, `etcd://host:port`), or `svc.registry()`. */
export declare class Registry {
  /**
   * Opens the registry `url` (default: MICRO_REGISTRY, else mDNS).
   * @throws MicroError 400 for an unknown registry or a `url` that is not a non-empty string.
   */
  constructor(url?: string);
  /** Every version of `name` with its nodes (`[]` when nobody serves it). */
  getService(name: string): Promise<RegistryService[]>;
  /** Every service known, without nodes (mDNS: names only). */
  listServices(): Promise<RegistryService[]>;
}

/**
 * Encodes a body as `[bytes, contentType]`: Buffer / Uint8Array / ArrayBuffer as they are
 * (content type as given, else `application/octet-stream`), anything else as JSON
 * (`application/json` unless a JSON content type is given).
 * @throws MicroError 400 for a value that is not JSON, or a non-JSON content type for a non-bytes body.
 */
export declare function encode(body: Body, contentType?: string): [Buffer, string];
/**
 * Decodes a body by content type (see the README's "Bodies" table): JSON parsed, text as a
 * string, else the Buffer. A JSON body that does not parse (or text that is not UTF-8) is a
 * MicroError: 400 for `side` `'request'`, 500 for `'reply'` (the default).
 */
export declare function decode(buf: Buffer, contentType: string, side?: 'request' | 'reply'): any;
/** The library's version (the Rust crate's). */
export declare const version: string;
/** A level of the library's log events. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';
/**
 * Sends the library's own log events (registry, transport, broker, exporters) to
 * `hook(level, target, message)` on the event loop, or back to the default with `null`:
 * warnings and errors printed on stderr as `micro: <level> <target>: <message>`. Which events
 * are produced is read once at load: `MICRO_LOG_LEVEL` (go-micro's names), else `RUST_LOG`,
 * else warnings and errors. The hook never keeps the process alive; one that throws is
 * reported on stderr.
 * @throws TypeError when `hook` is neither a function nor null.
 */
export declare function onLog(hook: ((level: LogLevel, target: string, message: string) => void) | null): void;

// The native module (micro.node), as generated by napi-rs. The classes above wrap it; use it
// directly only for what they do not offer. Its errors are plain Errors whose message is
// `MICRO_ERROR` followed by the go-micro error's JSON.

/** A reply as the native client returns it. */
export interface NativeReply {
  /** The body as the server sent it. */
  body: Buffer;
  /** The body's content type. */
  contentType: string;
  /** The reply headers. */
  header: Record<string, string>;
  /** The id of the node that answered. */
  node: string;
}
/** Options of one native call or stream; durations in milliseconds. */
export interface NativeCallOptions {
  /** The body's content type. */
  contentType?: string;
  /** Per-attempt timeout (go-micro's `Timeout` header), in milliseconds. */
  timeout?: number;
  /** Budget of the whole call (all attempts), in milliseconds. */
  requestTimeout?: number;
  /** Retries after a refused connection. */
  retries?: number;
  /** Re-send after a timed-out attempt too. */
  retryTimeouts?: boolean;
  /** Headers sent with the call. */
  metadata?: Record<string, string>;
  /** Explicit `host:port` addresses, bypassing the registry. */
  address?: string[];
}
/** A go-micro error's four fields, as the native module returns them. */
export interface NativeErrorParts {
  /** Who raised it. */
  id: string;
  /** The HTTP-like code. */
  code: number;
  /** What went wrong. */
  detail: string;
  /** The code's reason phrase. */
  status: string;
}
/** Native client options; each unset one falls back to its MICRO_* variable. */
export interface NativeClientOptions {
  /** Registry URL (MICRO_REGISTRY). */
  registry?: string;
  /** Default content type of requests. */
  contentType?: string;
  /** Default budget of a whole call (all attempts), in milliseconds. */
  requestTimeout?: number;
  /** Default retries after a refused connection. */
  retries?: number;
  /** Idle connections kept per address. */
  poolSize?: number;
  /** `random` or `roundrobin` (a 400 for anything else). */
  selector?: string;
  /** Broker URL for `publish`. */
  broker?: string;
}
/** The native module micro.node (napi-rs), under the JavaScript classes. */
export declare namespace native {
  /** The library's version. */
  function version(): string;
  /** Go's `http.StatusText(code)`: the status go-micro gives a code (`""` for codes Go does not name). */
  function statusText(code: number): string;
  /** Installs the log subscriber once (at load); a note when MICRO_LOG_LEVEL or RUST_LOG is not understood. */
  function initLogs(): string | null;
  /** Sets the function that wakes JS to take queued log events with `takeLogs` (`null`: stderr for warnings and errors); see {@link onLog}. */
  function setLogHook(wake: (() => void) | null): void;
  /** The log events queued for the hook since the last call, oldest first, as `[level, target, message]`. */
  function takeLogs(): Array<[LogLevel, string, string]>;
  /** The kind of body a content type carries, by core's one table (`micro::host::body`). */
  function bodyKind(contentType: string): 'json' | 'text' | 'bytes';
  /** For tests: `[pumps, watched, answered, taken]`, the times the JS thread turned its own runtime for a readable socket or a tick, that runtime's sockets libuv watches now, the times such a turn settled what finished itself, and the batches `nextRequests` took from a service's queue on the JS thread. */
  function hereStats(): number[];
  /** The go-micro error for a JSON body that does not parse: 400 on the request side, 500 on the reply side. */
  function invalidJson(side: 'request' | 'reply', contentType: string, why: string): NativeErrorParts;
  /** A service whose endpoints are answered from JavaScript: pull requests with `nextRequests`. */
  class NativeService {
    /** Builds the service (options over MICRO_* variables); nothing listens until `start`. Throws on a bad option. */
    constructor(opts: ServiceOptions);
    /** The service name. */
    readonly name: string;
    /** The node id. */
    readonly id: string;
    /** The registered address once started, else null. */
    readonly address: string | null;
    /** The bound listener address once started, else null. */
    readonly bound: string | null;
    /** Adds an endpoint answered from JavaScript (`stream` for a bidirectional stream). */
    handle(endpoint: string, stream: boolean, metadata?: Record<string, string> | null): void;
    /** Subscribes to `topic` (a queue group with `queue`) before `start`; returns the index its messages carry as `subscriber`. */
    subscribe(topic: string, queue?: string | null): number;
    /** The endpoints as registered, as go-micro's registry JSON. */
    endpointsJson(): string;
    /** Connects the broker, listens and registers. */
    start(): Promise<void>;
    /** Deregisters, stops accepting and drains calls in flight; then `nextRequests` resolves empty. */
    stop(): Promise<void>;
    /** Up to `max` waiting calls, streams and messages (at least one), or an empty batch once stopped. */
    nextRequests(max: number): Promise<NativeRequestBatch>;
    /** Answers unary call `id` of a batch (content type: the request's when unset); a 409 when answered already. */
    respondCall(id: number, body?: Buffer | null, contentType?: string | null): void;
    /** Answers many unary calls at once: `ids[i]` with `bodies` from `ends[i - 1]` (0 first) to `ends[i]`, content type `contentTypes[i]` (the request's when null); calls answered already are skipped. */
    respondCalls(ids: Float64Array, ends: Uint32Array, bodies: Buffer, contentTypes?: Array<string | null> | null): void;
    /** Answers many unary calls with JSON texts: `ids[i]` with line `i` of `lines` (each text ending with a newline, kept in the body), in the request's content type; a line count other than the ids' answers nothing (400); calls answered already are skipped. */
    respondLines(ids: Float64Array, lines: string): void;
    /** Answers unary call `id` with a go-micro error (`errId` empty: the service name; `status` unset: the code's text). */
    failCall(id: number, errId: string, code: number, detail: string, status?: string | null): void;
    /** The service pending call `id` addressed and its headers; `null` once it was answered. */
    callInfo(id: number): NativeCallInfo | null;
    /** A client sharing this service's registry cache and broker. */
    client(): NativeClient;
    /** The registry this service registers with. */
    registry(): NativeRegistry;
  }
  /** What `callInfo` tells of a pending unary call. */
  interface NativeCallInfo {
    /** The service the caller addressed. */
    service: string;
    /** The request headers (go-micro's context metadata). */
    header: Record<string, string>;
  }
  /** Numbers per call in a batch's `calls` (5): id, body end, endpoint, content type, service. */
  const CALL_STRIDE: number;
  /** A batch from `nextRequests`: unary calls as `CALL_STRIDE` numbers each in `calls`, streams and messages as objects. */
  interface NativeRequestBatch {
    /** Per call, `CALL_STRIDE` numbers: its id (for `respondCall`, `failCall` and `callInfo`), where its body ends in `bodies` (it starts where the one before ends), and the indexes in `names` of its `Handler.Method`, of its content type (empty when the caller sent none) and of the service it addressed. */
    calls: Float64Array;
    /** The distinct endpoints, content types and services of the batch's calls. */
    names: string[];
    /** Each call's W3C trace context (its `Traceparent` header) or `null`; absent when no call in the batch has one. */
    traceparents?: (string | null)[];
    /** Every call's body, one after another. */
    bodies: Buffer;
    /** Streams and subscribed messages. */
    others: NativeRequest[];
  }
  /** One stream or subscribed message, answered once with `respond` or `fail` (a 409 the second time). */
  class NativeRequest {
    /** `call`, `stream` or `message`. */
    readonly kind: 'call' | 'stream' | 'message';
    /** The service the caller addressed (calls and streams). */
    readonly service: string;
    /** `Handler.Method` (calls and streams). */
    readonly endpoint: string;
    /** A message's topic. */
    readonly topic: string;
    /** The body's content type. */
    readonly contentType: string;
    /** The headers (go-micro's context metadata). */
    readonly header: Record<string, string>;
    /** The W3C trace context (a `Traceparent` header, its name in any case), or `null`. */
    readonly traceparent: string | null;
    /** The raw body. */
    readonly body: Buffer;
    /** For a message: the index `subscribe` returned. */
    readonly subscriber: number;
    /** Answers with `body` (content type: the request's when unset); ends a stream; acks a message. */
    respond(body?: Buffer | null, contentType?: string | null): void;
    /** Answers with a go-micro error (`id` empty: the service name; `status` unset: the code's text). */
    fail(id: string, code: number, detail: string, status?: string | null): void;
    /** Stream only: the next message from the client, or `null` after its end; a 499 once the stream finished. */
    recv(): Promise<Buffer | null>;
    /** Stream only: sends one message to the client; a 499 once the stream finished. */
    send(body: Buffer): Promise<void>;
  }
  /** An RPC client over raw bodies. */
  class NativeClient {
    /** A client with its own registry and broker; throws on a bad option. */
    constructor(opts?: NativeClientOptions | null);
    /** Calls `service`'s `endpoint` with a raw body. */
    call(service: string, endpoint: string, body: Buffer, opts?: NativeCallOptions | null): Promise<NativeReply>;
    /**
     * `call` for `Client.call`: the body as JSON text or bytes, the common options as
     * arguments; resolves to a JSON reply's text (of the request's content type, valid
     * UTF-8), else to the whole reply.
     */
    callBody(service: string, endpoint: string, body: string | Buffer, contentType: string, address?: string[] | null, opts?: NativeCallOptions | null): Promise<string | NativeReply>;
    /** Opens a bidirectional stream. */
    stream(service: string, endpoint: string, opts?: NativeCallOptions | null): Promise<NativeClientStream>;
    /** Publishes a raw body on `topic`; resolves once the broker took it. */
    publish(topic: string, body: Buffer, contentType?: string | null, metadata?: Record<string, string> | null): Promise<void>;
  }
  /** An open bidirectional stream over raw bodies. */
  class NativeClientStream {
    /** The id of the node serving the stream. */
    readonly node: string;
    /** Sends one message; rejects with a 499 after `close`. */
    send(body: Buffer): Promise<void>;
    /** The next message, or `null` once the server ended the stream (or after `close`). */
    recv(): Promise<Buffer | null>;
    /** Sends the client's end of stream; receiving continues. */
    closeSend(): Promise<void>;
    /** Closes both halves: later `recv`s give `null`, `send`s reject. */
    close(): Promise<void>;
  }
  /** A registry opened by URL, answering with go-micro's registry JSON. */
  class NativeRegistry {
    /** Opens the registry `url` (default: MICRO_REGISTRY, else mDNS); throws for an unknown one. */
    constructor(url?: string | null);
    /** Every version of `name` with its nodes, as JSON text. */
    getService(name: string): Promise<string>;
    /** Every service known, as JSON text. */
    listServices(): Promise<string>;
  }
}

/** The default export: everything above in one object (`import micro from 'micro'`). */
declare const micro: {
  /** {@link Service}: serve endpoints and subscribe to topics. */
  Service: typeof Service;
  /** {@link Client}: call services, open streams, publish. */
  Client: typeof Client;
  /** {@link ClientStream}: a stream as `Client.stream` opens it. */
  ClientStream: typeof ClientStream;
  /** {@link ServerStream}: a stream as a stream handler gets it. */
  ServerStream: typeof ServerStream;
  /** {@link Registry}: a registry opened by URL. */
  Registry: typeof Registry;
  /** {@link Reply}: a reply with its raw parts (`Client.callRaw`). */
  Reply: typeof Reply;
  /** {@link MicroError}: go-micro's error, what every failure is. */
  MicroError: typeof MicroError;
  /** {@link encode}: a body to `[bytes, contentType]`. */
  encode: typeof encode;
  /** {@link decode}: bytes to a body by content type. */
  decode: typeof decode;
  /** {@link onLog}: where the library's log events go. */
  onLog: typeof onLog;
  /** The library's version (the Rust crate's). */
  version: string;
  /** The native module micro.node, under the JavaScript classes. */
  native: typeof native;
};
export default micro;
