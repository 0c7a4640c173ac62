'use strict';
// go-micro's errors as JavaScript errors (Python: micro/errors.py). Every failure from the
// library is a MicroError with go-micro's four fields, so a caller in any language
// receives exactly what a handler threw.

const native = require('./native');

/** The id of errors raised by the Node layer itself (bad arguments, closed objects). */
const NODE_ID = 'micro.node';
/** The prefix of a native error's message that carries a go-micro error as JSON. */
const PREFIX = 'MICRO_ERROR';

const FORM = "write new MicroError({ id: 'my.service', code: 409, detail: 'what went wrong' })";

/** `v` described for a message: its type and, for short values, the value. */
function shown(v) {
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${v}`;
  if (v === null) return 'null';
  return Array.isArray(v) ? 'an array' : typeof v;
}

/**
 * A go-micro error: `{id, code, detail, status}`, on the wire as JSON. Built from one
 * options object — `new MicroError({ id, code, detail, status })` (code defaults to 500;
 * without a status, it is derived from the code as go-micro's `errors.New` does, Go's
 * `http.StatusText`). The positional form `(id, code, detail, status)` is kept where its
 * types cannot be misread (a string id, an integer code, a string detail); anything else —
 * go-micro's `(id, detail, code)` order, an options object with unknown keys — throws a
 * TypeError showing the options form.
 */
class MicroError extends Error {
  constructor(id, code, detail, status) {
    let o;
    if (id !== null && typeof id === 'object' && !Array.isArray(id)) {
      if (code !== undefined) throw new TypeError(`MicroError takes one options object, got a second argument (${shown(code)}); ${FORM}`);
      for (const k of Object.keys(id)) {
        if (!['id', 'code', 'detail', 'status', 'cause'].includes(k)) throw new TypeError(`MicroError: unknown option ${JSON.stringify(k)} (id, code, detail, status, cause); ${FORM}`);
      }
      o = id;
    } else {
      o = { id, code, detail, status };
    }
    const oid = o.id === undefined || o.id === null ? '' : o.id;
    if (typeof oid !== 'string') throw new TypeError(`MicroError: id must be a string, got ${shown(oid)}; ${FORM}`);
    const c = o.code === undefined || o.code === null ? 500 : o.code;
    if (!Number.isInteger(c) || c < -2147483648 || c > 2147483647) {
      throw new TypeError(`MicroError: code must be an integer such as 404, got ${shown(c)}; ${FORM}`);
    }
    const d = o.detail === undefined || o.detail === null ? '' : o.detail;
    if (typeof d !== 'string') throw new TypeError(`MicroError: detail must be a string, got ${shown(d)}; ${FORM}`);
    if (o.status !== undefined && o.status !== null && typeof o.status !== 'string') {
      throw new TypeError(`MicroError: status must be a string, got ${shown(o.status)}`);
    }
    super(d, o.cause === undefined ? undefined : { cause: o.cause });
    this.name = 'MicroError';
    this.id = oid;
    this.code = c;
    this.detail = d;
    this.status = o.status || native.statusText(c);
  }

  /**
   * A new error for a downstream failure that keeps `cause` in its detail (go-micro's JSON
   * for a MicroError) and as `cause`: `catch (e) { throw MicroError.wrap(e, { code: 502 }) }`.
   * Without it a handler passes the downstream error through unchanged, as go-micro does.
   */
  static wrap(cause, opts) {
    const o = opts === undefined ? {} : opts;
    if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new TypeError(`MicroError.wrap(cause, { code, id, detail }): options must be an object, got ${shown(o)}`);
    const what = cause instanceof MicroError ? JSON.stringify(cause.toJSON()) : describe(cause);
    return new MicroError({ id: o.id, code: o.code === undefined ? 502 : o.code, detail: `${o.detail === undefined ? 'downstream call failed' : o.detail}: ${what}`, cause });
  }

  /** `MicroError <code> <id>: <detail>`. */
  toString() {
    return `MicroError ${this.code} ${this.id}: ${this.detail}`;
  }

  /** The error as go-micro's JSON object. */
  toJSON() {
    return { id: this.id, code: this.code, detail: this.detail, status: this.status };
  }
}

/**
 * Anything thrown, as a handler's caller sees it: `TypeError: x is undefined` (the error's
 * name, then its message), or the value itself for a thrown non-error.
 */
function describe(e) {
  try {
    if (e instanceof Error) return e.message ? `${e.name}: ${e.message}` : e.name;
    return e && typeof e.message === 'string' ? e.message : String(e);
  } catch (bad) {
    // A toString, message or name that throws (or a Proxy that throws on every read).
    return `${kind(e)} (its message cannot be read: ${kind(bad)})`;
  }
}

/** What `e` is, read without calling anything of its own that could throw: its class name
 * for an error, else its `typeof`. */
function kind(e) {
  try {
    if (e instanceof Error) {
      const name = Object.getPrototypeOf(e)?.constructor?.name;
      if (typeof name === 'string' && name) return name;
    }
  } catch (_) { /* a Proxy's traps */ }
  return e === null ? 'null' : typeof e;
}

/** A 400 raised by the Node layer: an argument of the wrong type or value. */
function bad(detail) {
  return new MicroError({ id: NODE_ID, code: 400, detail });
}

/** Turns a native error (or anything thrown) into a MicroError (Python: `_convert`). */
function toMicro(e) {
  if (e instanceof MicroError) return e;
  let msg;
  try {
    msg = e && typeof e.message === 'string' ? e.message : String(e);
  } catch (_) {
    return new MicroError({ id: NODE_ID, code: 500, detail: describe(e) });
  }
  if (msg.startsWith(PREFIX)) {
    try {
      const j = JSON.parse(msg.slice(PREFIX.length));
      return new MicroError({ id: String(j.id ?? ''), code: Number.isInteger(j.code) ? j.code : 500, detail: String(j.detail ?? ''), status: j.status });
    } catch (_) { /* fall through */ }
  }
  if (e && e.code === 'InvalidArg') return new MicroError({ id: NODE_ID, code: 400, detail: msg });
  return new MicroError({ id: NODE_ID, code: 500, detail: msg });
}

module.exports = { MicroError, NODE_ID, bad, describe, kind, toMicro };
