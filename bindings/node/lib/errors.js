'use strict';
// go-micro's errors as JavaScript errors (Python: micro/errors.py). Every failure from the
// library is a MicroError with go-micro's four fields, so a caller in any language
// receives exactly what a handler threw.

const native = require('./native');

/** The id of errors raised by the Node layer itself (bad arguments, closed objects). */
const NODE_ID = 'micro.node';
/** The prefix of a native error's message that carries a go-micro error as JSON. */
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

  /** `MicroError <code> <id>: <detail>`. */
  toString() {
    return `MicroError ${this.code} ${this.id}: ${this.detail}`;
  }

  /** The error as go-micro's JSON object. */
  toJSON() {
    return { id: this.id, code: this.code, detail: this.detail, status: this.status };
  }
}

/** A 400 raised by the Node layer: an argument of the wrong type or value. */
function bad(detail) {
  return new MicroError(NODE_ID, 400, detail);
}

/** Turns a native error (or anything thrown) into a MicroError (Python: `_convert`). */
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

module.exports = { MicroError, NODE_ID, bad, toMicro };
