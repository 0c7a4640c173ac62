'use strict';
// A Node hop of tests/interop/trace.sh's trace: `node hop.js NAME NEXT` serves Greeter.Hello
// by calling NEXT's Greeter.Hello (nothing passed by hand: the handler's trace goes on by
// itself, across the await) and prefixing the answer; its errors are the handler's. It also
// subscribes to `trace.events` and `trace.relay`. Prints `serving NAME` once started (registered).
const path = require('node:path');
const micro = require(path.join(__dirname, '..', '..', '..', 'bindings', 'node'));

const [name, after] = process.argv.slice(2);
const svc = new micro.Service(name);

svc.handle('Greeter.Hello', async (req) => {
  const got = await svc.client().call(after, 'Greeter.Hello', req);
  return { message: `${name} > ${got.message}` };
});

for (const topic of ['trace.events', 'trace.relay']) {
  svc.subscribe(topic, (body, msg) => console.log(`delivered ${msg.topic}`));
}

svc.start().then(() => console.log(`serving ${name}`));
