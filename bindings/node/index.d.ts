// Type declarations for `micro` (index.js re-exporting lib/*.js, over the native module micro.node).

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
  constructor(options: MicroErrorOptions);
  constructor(id: string, code: number, detail?: string, status?: string);
  /**
   * A new error for a downstream failure, keeping `cause` in its detail (go-micro's JSON)
   * and as `cause`: `throw MicroError.wrap(e, { code: 502 })`. Code 502 by default.
   */
  static wrap(cause: unknown, options?: { code?: number; id?: string; detail?: string }): MicroError;
  readonly id: string;
  readonly code: number;
  readonly detail: string;
  readonly status: string;
  toJSON(): { id: string; code: number; detail: string; status: string };
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
  /** `mdns` (default), `memory`, `etcd://host:port`. MICRO_REGISTRY. */
  registry?: string;
  registerTtl?: number;
  registerInterval?: number;
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
  service: string;
  endpoint: string;
  contentType: string;
  header: Record<string, string>;
  /** The raw body (unary calls). */
  raw?: Buffer;
}

/** A message delivered to a subscriber. */
export interface Message {
  topic: string;
  header: Record<string, string>;
  contentType: string;
  raw: Buffer;
}

export interface HandleOptions {
  /** A bidirectional stream endpoint. */
  stream?: boolean;
  /** Endpoint metadata registered with it. */
  metadata?: Record<string, string>;
}

/** A stream as a server handler sees it. */
export declare class ServerStream implements AsyncIterable<any> {
  readonly service: string;
  readonly endpoint: string;
  readonly contentType: string;
  readonly header: Record<string, string>;
  send(msg: Body): Promise<void>;
  recv(): Promise<any | null>;
  [Symbol.asyncIterator](): AsyncIterator<any>;
}

export type Handler = (body: any, req: RequestInfo) => Body | Promise<Body>;
export type StreamHandler = (stream: ServerStream, req: RequestInfo) => void | Promise<void>;
export type Subscriber = (body: any, msg: Message) => void | Promise<void>;

/** A micro service: handle, subscribe, start, close. */
export declare class Service {
  constructor(opts: ServiceOptions | string);
  readonly name: string;
  readonly id: string;
  readonly address: string | null;
  readonly bound: string | null;
  handle(endpoint: string, fn: Handler, opts?: HandleOptions & { stream?: false }): this;
  handle(endpoint: string, fn: StreamHandler, opts: HandleOptions & { stream: true }): this;
  subscribe(topic: string, fn: Subscriber, opts?: { queue?: string }): this;
  endpoints(): unknown[];
  start(): Promise<this>;
  client(): Client;
  /** The registry this service registers with. */
  registry(): Registry;
  close(): Promise<void>;
}

/** Client options; unset ones fall back to go-micro's MICRO_* variables. Durations in ms. */
export interface ClientOptions {
  /** MICRO_REGISTRY. */
  registry?: string;
  contentType?: string;
  /** Budget of a whole call, all attempts, in milliseconds (1 to 3,600,000). MICRO_CLIENT_REQUEST_TIMEOUT. */
  requestTimeout?: number;
  /** Retries on another node after a refused connection. MICRO_CLIENT_RETRIES. */
  retries?: number;
  poolSize?: number;
  /** How a node is picked among a service's nodes: `random` (go-micro's default) or `roundrobin`. MICRO_SELECTOR. */
  selector?: 'random' | 'roundrobin';
  broker?: string;
}

/** Options of one call or stream. Durations in ms. */
export interface CallOptions {
  contentType?: string;
  /** Per attempt (go-micro's `Timeout` header), in milliseconds: 1 to 3,600,000. */
  timeout?: number;
  /** The whole call, all attempts, in milliseconds: 1 to 3,600,000. */
  requestTimeout?: number;
  retries?: number;
  metadata?: Record<string, string>;
  /** Explicit `host:port` address(es), bypassing the registry. */
  address?: string | string[];
}

export interface PublishOptions {
  contentType?: string;
  metadata?: Record<string, string>;
}

/** A reply with its raw parts. */
export declare class Reply {
  readonly raw: Buffer;
  readonly contentType: string;
  readonly header: Record<string, string>;
  readonly node: string;
  /** The body decoded by content type (JSON parsed, text as string, else Buffer). */
  readonly body: any;
}

/** An open bidirectional stream, client side. */
export declare class ClientStream implements AsyncIterable<any> {
  readonly node: string;
  /** Whether `close()` was called. */
  readonly closed: boolean;
  send(msg: Body): Promise<void>;
  recv(): Promise<any | null>;
  closeSend(): Promise<void>;
  close(): Promise<void>;
  [Symbol.asyncIterator](): AsyncIterator<any>;
}

export declare class Client {
  constructor(opts?: ClientOptions);
  /** Releases the client; later calls reject with a 499. */
  close(): void;
  /** Whether `close()` was called. */
  readonly closed: boolean;
  publish(topic: string, body: Body, opts?: PublishOptions): Promise<void>;
  /** Like `call`, resolving to the raw `Reply` (Python: `call_raw`). */
  callRaw(service: string, endpoint: string, body?: Body, opts?: CallOptions): Promise<Reply>;
  /** @deprecated Use `callRaw` (the name Python and Node share); warns once per process. */
  request(service: string, endpoint: string, body?: Body, opts?: CallOptions): Promise<Reply>;
  call<T = any>(service: string, endpoint: string, body?: Body, opts?: CallOptions): Promise<T>;
  stream(service: string, endpoint: string, opts?: CallOptions): Promise<ClientStream>;
}

/** A node of a service in the registry. */
export interface RegistryNode {
  id: string;
  address: string;
  metadata: Record<string, string> | null;
}

/** A service in the registry (go-micro's registry JSON). */
export interface RegistryService {
  name: string;
  version: string;
  metadata: Record<string, string> | null;
  endpoints: { name: string; request?: unknown; response?: unknown; metadata: Record<string, string> | null }[] | null;
  nodes: RegistryNode[] | null;
}

/** A registry opened by URL (`mdns`, `memory`, `etcd://host:port`), or `svc.registry()`. */
export declare class Registry {
  constructor(url?: string);
  /** Every version of `name` with its nodes (`[]` when nobody serves it). */
  getService(name: string): Promise<RegistryService[]>;
  /** Every service known, without nodes (mDNS: names only). */
  listServices(): Promise<RegistryService[]>;
}

export declare function encode(body: Body, contentType?: string): [Buffer, string];
/**
 * Decodes a body by content type (see the README's "Bodies" table): JSON parsed, text as a
 * string, else the Buffer. A JSON body that does not parse (or text that is not UTF-8) is a
 * MicroError: 400 for `side` `'request'`, 500 for `'reply'` (the default).
 */
export declare function decode(buf: Buffer, contentType: string, side?: 'request' | 'reply'): any;
export declare const version: string;

// The native module (micro.node), as generated by napi-rs.
export interface NativeReply { body: Buffer; contentType: string; header: Record<string, string>; node: string }
export interface NativeCallOptions { contentType?: string; timeout?: number; requestTimeout?: number; retries?: number; metadata?: Record<string, string>; address?: string[] }
export interface NativeErrorParts { id: string; code: number; detail: string; status: string }
export interface NativeClientOptions { registry?: string; contentType?: string; requestTimeout?: number; retries?: number; poolSize?: number; selector?: string; broker?: string }
export declare namespace native {
  function version(): string;
  function statusText(code: number): string;
  /** The kind of body a content type carries, by core's one table (`micro::host::body`). */
  function bodyKind(contentType: string): 'json' | 'text' | 'bytes';
  /** The go-micro error for a JSON body that does not parse: 400 on the request side, 500 on the reply side. */
  function invalidJson(side: 'request' | 'reply', contentType: string, why: string): NativeErrorParts;
  class NativeService {
    constructor(opts: ServiceOptions);
    readonly name: string;
    readonly id: string;
    readonly address: string | null;
    readonly bound: string | null;
    handle(endpoint: string, stream: boolean, metadata?: Record<string, string> | null): void;
    subscribe(topic: string, queue?: string | null): number;
    endpointsJson(): string;
    start(): Promise<void>;
    stop(): Promise<void>;
    nextRequests(max: number): Promise<NativeRequest[]>;
    client(): NativeClient;
    registry(): NativeRegistry;
  }
  class NativeRequest {
    readonly kind: 'call' | 'stream' | 'message';
    readonly service: string;
    readonly endpoint: string;
    readonly topic: string;
    readonly contentType: string;
    readonly header: Record<string, string>;
    readonly body: Buffer;
    readonly subscriber: number;
    respond(body?: Buffer | null, contentType?: string | null): void;
    fail(id: string, code: number, detail: string, status?: string | null): void;
    recv(): Promise<Buffer | null>;
    send(body: Buffer): Promise<void>;
  }
  class NativeClient {
    constructor(opts?: NativeClientOptions | null);
    call(service: string, endpoint: string, body: Buffer, opts?: NativeCallOptions | null): Promise<NativeReply>;
    stream(service: string, endpoint: string, opts?: NativeCallOptions | null): Promise<NativeClientStream>;
    publish(topic: string, body: Buffer, contentType?: string | null, metadata?: Record<string, string> | null): Promise<void>;
  }
  class NativeClientStream {
    readonly node: string;
    send(body: Buffer): Promise<void>;
    recv(): Promise<Buffer | null>;
    closeSend(): Promise<void>;
    close(): Promise<void>;
  }
  class NativeRegistry {
    constructor(url?: string | null);
    getService(name: string): Promise<string>;
    listServices(): Promise<string>;
  }
}

declare const micro: {
  Service: typeof Service;
  Client: typeof Client;
  ClientStream: typeof ClientStream;
  ServerStream: typeof ServerStream;
  Registry: typeof Registry;
  Reply: typeof Reply;
  MicroError: typeof MicroError;
  encode: typeof encode;
  decode: typeof decode;
  version: string;
  native: typeof native;
};
export default micro;
