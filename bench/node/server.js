'use strict';
// The benchmark greeter served by the Node binding: `Greeter.Hello` (JSON), an async
// handler on the event loop. Memory registry; prints {"event":"ready","address":...} once
// serving, then runs until SIGTERM.
//
//   node server.js [--addr 127.0.0.1:0]     (MICRO_NODE_ADDON picks the native module,
//                                            MICRO_NODE_PKG the package, bindings/node if unset)
const path = require('node:path');
const micro = require(process.env.MICRO_NODE_PKG || path.resolve(__dirname, '../../bindings/node'));

const i = process.argv.indexOf('--addr');
const address = i > 0 ? process.argv[i + 1] : '127.0.0.1:0';

(async () => {
  const svc = new micro.Service({ name: 'greeter', registry: 'memory', broker: 'memory', address });
  svc.handle('Greeter.Hello', async (req) => ({ message: 'Hello ' + req.name }));
  await svc.start();
  process.on('SIGTERM', () => { svc.close().finally(() => process.exit(0)); });
  console.log(JSON.stringify({ event: 'ready', address: svc.address }));
})().catch((e) => { console.error(String(e)); process.exit(1); });
