'use strict';
// Makes the library log one warning of its own: a service with tracing on flushes its spans,
// at stop, to an OTLP endpoint where nothing listens (OTEL_EXPORTER_OTLP_ENDPOINT, set by the
// test). With `hook` as argv[2], every event goes to a hook that prints it on stdout as
// `LOG <level> <target> <message>`; with `throw`, the hook throws. Prints `done` at the end.
const micro = require('../..');

const mode = process.argv[2];
if (mode === 'hook') micro.onLog((level, target, message) => console.log(`LOG ${level} ${target} ${message}`));
if (mode === 'throw') micro.onLog(() => { throw new Error('hook broke'); });

(async () => {
  const svc = new micro.Service({ name: 'node.logs', registry: 'memory', broker: 'memory', address: '127.0.0.1:0' });
  svc.handle('Logs.Call', async () => ({}));
  await svc.start();
  await svc.client().call('node.logs', 'Logs.Call', {}, { address: svc.address });
  await svc.close(); // flushes the span to the endpoint nobody listens on
  console.log('done');
})();
