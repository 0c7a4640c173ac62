'use strict';
// In-process tests over loopback (memory registry, explicit addresses): calls, bodies,
// errors, streams, pub/sub, registry, wrong types and closed objects.
const test = require('node:test');
const assert = require('node:assert/strict');
const micro = require('..');
const { greeter } = require('./helpers');

test('calls, bodies and errors', async (t) => {
  const svc = await greeter(micro);
  const c = new micro.Client({ registry: 'memory' });
  const address = svc.address;
  t.after(() => svc.close());

  await t.test('object bodies go as JSON and replies are decoded', async () => {
    assert.deepEqual(await c.call('node.greeter', 'Greeter.Hello', { name: 'John' }, { address }), { message: 'Hello John' });
    assert.deepEqual(await c.call('node.greeter', 'Greeter.Plain', { name: 'Sync' }, { address }), { message: 'Plain Sync' });
    const r = await c.callRaw('node.greeter', 'Greeter.Hello', { name: 'Raw' }, { address });
    assert.equal(r.contentType, 'application/json');
    assert.ok(Buffer.isBuffer(r.raw));
    assert.ok(r.node.length > 0);
  });

  await t.test('the service client finds the service through the shared registry', async () => {
    assert.deepEqual(await svc.client().call('node.greeter', 'Greeter.Hello', { name: 'Reg' }), { message: 'Hello Reg' });
  });

  await t.test('Buffer and Uint8Array go as they are with the content type given', async () => {
    const bin = Buffer.from([0, 1, 2, 255]);
    const r = await c.callRaw('node.greeter', 'Greeter.Bytes', bin, { address, contentType: 'application/octet-stream' });
    assert.equal(r.contentType, 'application/octet-stream');
    assert.deepEqual(r.body, Buffer.concat([Buffer.from('got:'), bin]));
    const u8 = new Uint8Array([9, 8, 7]).subarray(1);
    const r2 = await c.call('node.greeter', 'Greeter.Bytes', u8, { address, contentType: 'application/octet-stream' });
    assert.deepEqual(r2, Buffer.from('got:\x08\x07', 'latin1'));
  });

  await t.test('metadata arrives as request headers', async () => {
    const r = await c.call('node.greeter', 'Greeter.Meta', {}, { address, metadata: { 'X-Trace': 'abc' } });
    assert.equal(r.contentType, 'application/json');
    assert.equal(r.header['X-Trace'], 'abc');
  });

  await t.test('a thrown MicroError keeps id, code and detail', async () => {
    await assert.rejects(c.call('node.greeter', 'Greeter.Fail', { code: 418, detail: 'teapot' }, { address }), (e) => {
      assert.ok(e instanceof micro.MicroError);
      assert.deepEqual([e.id, e.code, e.detail], ['node.greeter', 418, 'teapot']);
      return true;
    });
    await assert.rejects(c.call('node.greeter', 'Greeter.Fail', { code: 404, detail: 'gone' }, { address }),
      { name: 'MicroError', code: 404, status: 'Not Found', detail: 'gone' });
  });

  await t.test('throws and rejections become 500s on the wire', async () => {
    for (const [ep, detail] of [['Greeter.Throw', 'TypeError: thrown plainly'], ['Greeter.Reject', 'Error: rejected'], ['Greeter.RejectString', 'a string']]) {
      await assert.rejects(c.call('node.greeter', ep, {}, { address }), { name: 'MicroError', id: 'node.greeter', code: 500, detail });
    }
  });

  await t.test('unknown endpoints and services are go-micro errors', async () => {
    await assert.rejects(c.call('node.greeter', 'Greeter.Nope', {}, { address }), { code: 404 });
    await assert.rejects(c.call('no.such.service', 'Greeter.Hello', {}, { retries: 0 }), (e) => e instanceof micro.MicroError && e.code >= 400);
  });

  await t.test('bidirectional stream as an async iterator', async () => {
    const s = await c.stream('node.greeter', 'Greeter.Stream', { address });
    const out = [];
    for (const n of ['a', 'b', 'c']) {
      await s.send({ name: n });
      out.push(await s.recv());
    }
    await s.closeSend();
    for await (const m of s) out.push(m); // ends when the server returns
    assert.deepEqual(out, ['a', 'b', 'c'].map((n) => ({ message: `Hello ${n}` })));
    await s.close();
    await assert.rejects(s.send({ name: 'late' }), { code: 499 });
  });

  await t.test('100 concurrent calls', async () => {
    const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => c.call('node.greeter', 'Greeter.Hello', { name: `n${i}` }, { address })));
    assert.deepEqual(rs.map((r) => r.message), Array.from({ length: 100 }, (_, i) => `Hello n${i}`));
  });
});

test('wrong types give clear errors, never a crash', async () => {
  const c = new micro.Client({ registry: 'memory' });
  await assert.rejects(c.call(42, 'A.B', {}), { name: 'MicroError', code: 400, detail: /service must be a non-empty string/ });
  await assert.rejects(c.call('s', '', {}), { code: 400, detail: /endpoint/ });
  await assert.rejects(c.call('s', 'A.B', {}, { timeout: 'soon' }), { code: 400, detail: /timeout must be a number/ });
  await assert.rejects(c.call('s', 'A.B', {}, { timeout: -1, address: '127.0.0.1:1' }), { code: 400, detail: /timeout/ });
  await assert.rejects(c.call('s', 'A.B', {}, { retries: 1.5 }), { code: 400, detail: /retries/ });
  await assert.rejects(c.call('s', 'A.B', 'text', { contentType: 'application/protobuf' }), { code: 400, detail: /Buffer or Uint8Array/ });
  await assert.rejects(c.call('s', 'A.B', { big: 1n }), { code: 400, detail: /JSON/ });
  await assert.rejects(c.call('s', 'A.B', {}, 'opts'), { code: 400, detail: /options must be an object/ });
  await assert.rejects(c.publish('', {}), { code: 400, detail: /topic/ });
  assert.throws(() => new micro.Service({}), (e) => e instanceof micro.MicroError && /name/.test(e.detail));
  assert.throws(() => new micro.Service({ name: 'x', registry: 'zookeeper' }), (e) => e instanceof micro.MicroError && /registry/.test(e.detail));
  assert.throws(() => new micro.Service({ name: 'x', registerTtl: 'long' }), { code: 400 });
  assert.throws(() => new micro.Client({ registry: 7 }), { code: 400 });
  assert.throws(() => new micro.Registry('zookeeper'), micro.MicroError);
  const svc = new micro.Service({ name: 'types', registry: 'memory', broker: 'memory' });
  assert.throws(() => svc.handle('A.B', 'not a function'), { code: 400, detail: /must be a function/ });
  assert.throws(() => svc.handle('', () => 1), { code: 400 });
  assert.throws(() => svc.subscribe('t', () => 1, { queue: 5 }), { code: 400 });
  // Native layer directly: napi rejects wrong argument types with an error, not a crash.
  assert.throws(() => svc._n.handle(5, 'x'), Error);
  assert.throws(() => new micro.native.NativeClient({ retries: 'x' }), Error);
});

test('closed objects give clear errors', async () => {
  const svc = await greeter(micro, 'closing');
  await svc.close();
  await svc.close(); // idempotent
  assert.throws(() => svc.handle('A.B', () => 1), { code: 499, detail: /closed/ });
  await assert.rejects(svc.start(), { code: 499, detail: /closed/ });
  assert.throws(() => svc.client(), { code: 499 });
  const c = new micro.Client({ registry: 'memory' });
  c.close();
  await assert.rejects(c.call('closing', 'Greeter.Hello', {}), { code: 499, detail: /client is closed/ });
  // A closed service no longer answers.
  const c2 = new micro.Client({ registry: 'memory' });
  await assert.rejects(c2.call('closing', 'Greeter.Hello', {}, { address: svc.bound || '127.0.0.1:1', retries: 0, timeout: 2000 }), micro.MicroError);
});

test('a finished server stream refuses send and recv', async () => {
  const svc = new micro.Service({ name: 'finished', registry: 'memory', broker: 'memory', address: '127.0.0.1:0' });
  const kept = [];
  svc.handle('S.Once', async (s) => { kept.push(s); await s.send(await s.recv()); }, { stream: true });
  await svc.start();
  try {
    const s = await svc.client().stream('finished', 'S.Once');
    await s.send({ n: 1 });
    assert.deepEqual(await s.recv(), { n: 1 });
    assert.equal(await s.recv(), null); // the handler returned: the stream ended
    await s.close();
    await assert.rejects(kept[0].send({ late: true }), { code: 499, detail: /has finished/ });
    await assert.rejects(kept[0].recv(), { code: 499, detail: /has finished/ });
  } finally {
    await svc.close();
  }
});

test('publish and subscribe over the memory broker', async () => {
  const svc = new micro.Service({ name: 'pubsub', registry: 'memory', broker: 'memory', address: '127.0.0.1:0' });
  const got = [];
  let resolve;
  const all = new Promise((r) => { resolve = r; });
  svc.subscribe('events', async (body, msg) => {
    got.push({ body, topic: msg.topic, ct: msg.contentType, meta: msg.header['X-Who'] });
    if (got.length === 3) resolve();
  });
  svc.subscribe('events.bad', () => { throw new Error('a failing subscriber is only reported'); });
  const warnings = [];
  const onWarn = (w) => warnings.push(w);
  process.on('warning', onWarn);
  await svc.start();
  const c = svc.client();
  await c.publish('events', { n: 1 }, { metadata: { 'X-Who': 'node' } });
  await c.publish('events', Buffer.from('raw'), { contentType: 'application/octet-stream' });
  await c.publish('events', 'a string');
  await all;
  // The memory broker delivers inline, so the publisher sees the subscriber's failure.
  await assert.rejects(c.publish('events.bad', {}), { code: 500, detail: /failing subscriber/ });
  await svc.close();
  process.off('warning', onWarn);
  assert.deepEqual(got, [
    { body: { n: 1 }, topic: 'events', ct: 'application/json', meta: 'node' },
    { body: Buffer.from('raw'), topic: 'events', ct: 'application/octet-stream', meta: undefined },
    { body: 'a string', topic: 'events', ct: 'application/json', meta: undefined },
  ]);
  assert.ok(warnings.some((w) => /a failing subscriber/.test(w.message)), 'the throwing subscriber was reported');
});

test('registry access shows real services', async () => {
  const svc = new micro.Service({ name: 'reg.node', version: '2.0.1', metadata: { zone: 'z1' }, registry: 'memory', broker: 'memory', address: '127.0.0.1:0' });
  svc.handle('Greeter.Hello', (req) => ({ message: `Hello ${req.name}` }), { metadata: { idempotent: 'true' } });
  svc.handle('Greeter.Stream', async (s) => { for await (const m of s) await s.send(m); }, { stream: true });
  await svc.start();
  const reg = svc.registry();
  try {
    const [got, ...more] = await reg.getService('reg.node');
    assert.equal(more.length, 0);
    assert.equal(got.name, 'reg.node');
    assert.equal(got.version, '2.0.1');
    assert.deepEqual(got.nodes.map((n) => [n.id, n.address]), [[svc.id, svc.address]]);
    assert.equal(got.nodes[0].metadata.zone, 'z1');
    assert.equal(got.nodes[0].metadata.protocol, 'mucp');
    const eps = Object.fromEntries(got.endpoints.map((e) => [e.name, e.metadata]));
    assert.deepEqual(Object.keys(eps).sort(), ['Greeter.Hello', 'Greeter.Stream']);
    assert.equal(eps['Greeter.Hello'].idempotent, 'true');
    assert.equal(eps['Greeter.Stream'].stream, 'true');
    assert.deepEqual((await reg.listServices()).map((x) => x.name), ['reg.node']);
    assert.deepEqual(await reg.getService('no.such.service'), []);
    // A memory registry is one per instance: a new one knows nobody.
    const other = new micro.Registry('memory');
    assert.deepEqual(await other.listServices(), []);
    assert.deepEqual(await other.getService('reg.node'), []);
    await assert.rejects(reg.getService(''), { code: 400, detail: /service name/ });
  } finally {
    await svc.close();
  }
  assert.deepEqual(await reg.getService('reg.node'), []); // deregistered on close
  assert.throws(() => svc.registry(), { code: 499, detail: /closed/ });
  assert.throws(() => new micro.Registry(5), { code: 400 });
});

test('ESM import works', async () => {
  const m = await import('../index.mjs');
  assert.equal(typeof m.default.Service, 'function');
  assert.equal(m.Service, micro.Service);
  assert.equal(m.MicroError, micro.MicroError);
});

test('maxConcurrency bounds the calls in handlers at once', async () => {
  const svc = new micro.Service({ name: 'node.bounded', registry: 'memory', address: '127.0.0.1:0', maxConcurrency: 2 });
  let running = 0;
  let peak = 0;
  svc.handle('Bounded.Work', async (req) => {
    running += 1;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 50));
    running -= 1;
    return { n: req.n };
  });
  await svc.start();
  try {
    const c = svc.client();
    const got = await Promise.all([...Array(8).keys()].map((n) => c.call('node.bounded', 'Bounded.Work', { n })));
    assert.deepEqual(got, [...Array(8).keys()].map((n) => ({ n })));
    assert.equal(peak, 2);
  } finally {
    await svc.close();
  }
  assert.throws(() => new micro.Service({ name: 'x', registry: 'memory', maxConcurrency: 0 }), { code: 400 });
  assert.throws(() => new micro.Service({ name: 'x', registry: 'memory', maxConcurrency: '2' }), { code: 400 });
});

test('Debug.Stats is served by the library and counts calls and errors', async (t) => {
  const svc = await greeter(micro);
  const c = new micro.Client({ registry: 'memory' });
  const address = svc.address;
  t.after(() => svc.close());
  const num = (s, k) => Number(s[k] ?? '0'); // protojson: uint64 as strings, zeros left out
  const before = await c.call('node.greeter', 'Debug.Stats', {}, { address });
  assert.ok(Object.values(before).every((v) => typeof v === 'string'), JSON.stringify(before));
  assert.ok(num(before, 'started') > 0 && num(before, 'memory') > 0 && num(before, 'threads') > 0, JSON.stringify(before));
  await c.call('node.greeter', 'Greeter.Hello', { name: 'S' }, { address });
  await assert.rejects(c.call('node.greeter', 'Greeter.Fail', { code: 418, detail: 'teapot' }, { address }), { code: 418 });
  const after = await c.call('node.greeter', 'Debug.Stats', {}, { address });
  assert.equal(num(after, 'requests') - num(before, 'requests'), 3, JSON.stringify([before, after]));
  assert.equal(num(after, 'errors') - num(before, 'errors'), 1, JSON.stringify([before, after]));
  assert.equal(after.started, before.started);
});
