'use strict';
// Bodies: JavaScript values to bytes and back, by content type (Python: micro/_body.py).
// Which content types are JSON, text or bytes is core's one table (micro::host::body),
// asked of the native module once per content type and remembered here.

const { isUtf8 } = require('node:buffer');
const native = require('./native');
const { MicroError, NODE_ID, bad, describe } = require('./errors');

const JSON_TYPE = 'application/json';
const OCTET = 'application/octet-stream';

// Content type -> 'json' | 'text' | 'bytes'. A service sees a handful of content types, so
// this stays tiny; a peer sending endless distinct ones only makes it start over.
const kinds = new Map();
const KINDS_MAX = 256;

/** The kind of body `contentType` carries: `json`, `text` or `bytes` (core's table). */
function kind(contentType) {
  const ct = typeof contentType === 'string' ? contentType : '';
  let k = kinds.get(ct);
  if (k === undefined) {
    k = native.bodyKind(ct);
    if (kinds.size >= KINDS_MAX) kinds.clear();
    kinds.set(ct, k);
  }
  return k;
}

/** Whether `contentType` carries JSON. */
function isJson(contentType) {
  return kind(contentType) === 'json';
}

/** Whether `v` is raw bytes (a Buffer, typed array, DataView or ArrayBuffer). */
function isBinary(v) {
  return Buffer.isBuffer(v) || ArrayBuffer.isView(v) || v instanceof ArrayBuffer;
}

/**
 * Encodes a body: Buffer/Uint8Array/ArrayBuffer as they are (content type as given, else
 * application/octet-stream); anything else as JSON (application/json unless a JSON content
 * type was given).
 */
function encode(body, contentType) {
  const [data, ct] = encodeText(body, contentType);
  return [typeof data === 'string' ? Buffer.from(data) : data, ct];
}

/** `encode`, with a JSON body left as its text (a string), for a native call that takes one. */
function encodeText(body, contentType) {
  if (contentType !== undefined && contentType !== null && typeof contentType !== 'string') {
    throw bad(`contentType must be a string, got ${typeof contentType}`);
  }
  if (Buffer.isBuffer(body)) return [body, contentType || OCTET];
  if (ArrayBuffer.isView(body)) {
    return [Buffer.from(body.buffer, body.byteOffset, body.byteLength), contentType || OCTET];
  }
  if (body instanceof ArrayBuffer) return [Buffer.from(body), contentType || OCTET];
  if (contentType && !isJson(contentType)) {
    throw bad(`a ${typeof body} body needs a JSON content type, not ${contentType}; pass a Buffer or Uint8Array for ${contentType}`);
  }
  return [jsonText(body), contentType || JSON_TYPE];
}

/** `body` as JSON text (`undefined` as `{}`); a 400 naming why when it cannot be. */
function jsonText(body) {
  let text;
  try {
    text = JSON.stringify(body === undefined ? {} : body);
  } catch (e) {
    // What a toJSON or getter threw: an error's message, or anything else described.
    let why;
    try {
      why = e instanceof Error ? e.message : describe(e);
    } catch (_) {
      why = describe(e);
    }
    throw bad(`body cannot be encoded as JSON: ${why}`);
  }
  if (text === undefined) throw bad(`a ${typeof body} cannot be encoded as JSON`);
  return text;
}

/**
 * Decodes a body by content type: JSON parsed (an empty body is `null`), text as a string,
 * anything else the Buffer itself. A JSON body that does not parse, or a text body that is
 * not UTF-8, is a MicroError: 400 when `side` is `'request'` (what a handler or subscriber
 * received), 500 when `'reply'` (what a client received).
 */
function decode(buf, contentType, side = 'reply') {
  if (side !== 'request' && side !== 'reply') throw bad(`side must be 'request' or 'reply', got ${side}`);
  const k = kind(contentType);
  if (k === 'json') {
    if (buf.length === 0) return null;
    if (!isUtf8(buf)) throw invalidJson(side, contentType, 'the body is not valid UTF-8');
    return parseJson(buf.toString('utf8'), contentType, side);
  }
  if (k === 'text') {
    if (!isUtf8(buf)) throw new MicroError(NODE_ID, side === 'request' ? 400 : 500, `${side} body is not valid UTF-8 (${contentType})`);
    return buf.toString('utf8');
  }
  return buf;
}

/**
 * A JSON body's text parsed (an empty one is `null`); when it does not parse, the MicroError
 * `decode` gives (400 for a request, 500 for a reply).
 */
function parseJson(text, contentType, side = 'reply') {
  if (text.length === 0) return null;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw invalidJson(side, contentType, e.message);
  }
}

/** Core's error for a JSON body that does not parse, as a MicroError. */
function invalidJson(side, contentType, why) {
  const p = native.invalidJson(side, String(contentType), why);
  return new MicroError(p.id, p.code, p.detail, p.status);
}

module.exports = { JSON: JSON_TYPE, OCTET, kind, isJson, isBinary, encode, encodeText, jsonText, decode, parseJson };
