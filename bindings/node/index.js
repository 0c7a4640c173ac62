'use strict';
// micro for Node: join a go-micro mesh in-process. See index.d.ts for the API.
//
// The package is lib/, file for file the Python package's modules: client.js (Client,
// ClientStream, Reply, Registry), service.js (Service, ServerStream), errors.js
// (MicroError), body.js (encode/decode by content type), over native.js (micro.node).
// This file only re-exports them.

const native = require('./lib/native');
const { MicroError } = require('./lib/errors');
const { encode, decode } = require('./lib/body');
const { Client, ClientStream, Reply, Registry } = require('./lib/client');
const { Service, ServerStream } = require('./lib/service');
const { onLog } = require('./lib/log');

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
  onLog,
  version: native.version(),
  native,
};
module.exports.default = module.exports;
