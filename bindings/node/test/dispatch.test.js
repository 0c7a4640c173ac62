'use strict';
// How unary calls reach handlers (lib/service.js `_call`, src/service.rs `RequestBatch`):
// by id, in batches, with the request's headers fetched only when read.
const test = require('node:test');
const assert = require('node:assert/strict');
const micro = require('..');

const STRIDE = micro.native.CALL_STRIDE; // numbers per call in a batch's `calls`

async function service(name, setup) {
  const svc = new micro.Service({ name, registry: 'memory', address: '127.0.0.1:0' });
  setup(svc);
  await svc.start();
  return svc;
}

/** A started NativeService answering `endpoint` by hand, and a client; stopped after the test. */
async function native(t, name, endpoint) {
  const n = new micro.native.NativeService({ name, registry: 'memory', address: '127.0.0.1:0' });
  n.handle(endpoint, false);
  await n.start();
  t.after(() => n.stop());
  return [n, new micro.Client({ registry: 'memory' })];
}

/** Pulls batches until `count` calls came: their ids in order, and each id's body's `k`. */
async function pullCalls(n, count) {
  const ids = [];
  const ks = new Map();
  while (ids.length < count) {
    const b = await n.nextRequests(8);
    let start = 0;
    for (let j = 0; j < b.calls.length; j += STRIDE) {
      const [id, end] = [b.calls[j], b.calls[j + 1]];
      ks.set(id, JSON.parse(b.bodies.subarray(start, end).toString()).k);
      start = end;
      ids.push(id);
    }
  }
  return [ids, ks];
}

test('a handler sees the request context whether or not it reads the headers', async (t) => {
  const seen = [];
  const svc = await service('node.dispatch.ctx', (s) => {
    s.handle('D.Keys', async (req, ctx) => ({ keys: Object.keys(ctx).sort(), raw: ctx.raw.toString() }));
    s.handle('D.Header', async (req, ctx) => ({ who: ctx.header['X-Who'] ?? null, service: ctx.service }));
    s.handle('D.Spread', async (req, ctx) => {
      const copy = { ...ctx };
      seen.push(copy);
      return { who: copy.header['X-Who'], endpoint: copy.endpoint };
    });
    s.handle('D.Assign', async (req, ctx) => {
      ctx.header = { replaced: 'yes' };
      return { header: ctx.header };
    });
  });
  t.after(() => svc.close());
  const c = svc.client();
  const address = svc.address;
  const k = await c.call(svc.name, 'D.Keys', { a: 1 }, { address });
  assert.deepEqual(k.keys, ['contentType', 'endpoint', 'header', 'raw', 'service']);
  assert.equal(k.raw, '{"a":1}');
  assert.deepEqual(await c.call(svc.name, 'D.Header', {}, { address, metadata: { 'X-Who': 'ann' } }),
    { who: 'ann', service: svc.name });
  // The service a caller addressed, which a proxy or an alias may name otherwise.
  assert.deepEqual(await c.call('node.dispatch.alias', 'D.Header', {}, { address }), { who: null, service: 'node.dispatch.alias' });
  assert.deepEqual(await c.call(svc.name, 'D.Spread', {}, { address, metadata: { 'X-Who': 'bob' } }),
    { who: 'bob', endpoint: 'D.Spread' });
  // Kept past its answer, a context read earlier still holds what it read.
  assert.equal(seen[0].header['X-Who'], 'bob');
  assert.deepEqual(await c.call(svc.name, 'D.Assign', {}, { address }), { header: { replaced: 'yes' } });
});

test('calls in one batch each get their own body and answer', async (t) => {
  const svc = await service('node.dispatch.batch', (s) => {
    s.handle('D.Echo', async (req) => {
      await new Promise((r) => setImmediate(r));
      return { n: req.n, pad: req.pad };
    });
    s.handle('D.Sync', (req) => ({ n: req.n }));
    s.handle('D.Bytes', async (req) => Buffer.from(req).reverse());
  });
  t.after(() => svc.close());
  const c = svc.client();
  const address = svc.address;
  const pads = ['', 'x', 'é'.repeat(300), 'y'.repeat(70000)];
  const got = await Promise.all(Array.from({ length: 200 }, (_, n) =>
    c.call(svc.name, n % 2 ? 'D.Echo' : 'D.Sync', { n, pad: pads[n % 4] }, { address })));
  got.forEach((r, n) => {
    assert.equal(r.n, n);
    if (n % 2) assert.equal(r.pad, pads[n % 4]);
  });
  const bin = Buffer.from([1, 2, 3, 0, 255]);
  const r = await c.call(svc.name, 'D.Bytes', bin, { address, contentType: 'application/octet-stream' });
  assert.deepEqual(r, Buffer.from([255, 0, 3, 2, 1]));
});

test('calls that queue while JS is busy are taken on the JS thread, each answered', async (t) => {
  // Each call holds the JS thread ~2 ms, so the calls behind it queue meanwhile:
  // `nextRequests` then takes them where it is called, without a runtime thread.
  const svc = await service('node.dispatch.busy', (s) => {
    s.handle('D.Busy', (req) => {
      const end = performance.now() + 2;
      while (performance.now() < end);
      return { n: req.n };
    });
  });
  t.after(() => svc.close());
  const c = svc.client();
  const before = micro.native.hereStats()[3];
  const got = await Promise.all(Array.from({ length: 40 }, (_, n) =>
    c.call(svc.name, 'D.Busy', { n }, { address: svc.address })));
  got.forEach((r, n) => assert.equal(r.n, n));
  assert.ok(micro.native.hereStats()[3] > before, 'no batch was taken on the JS thread');
});

test('an answer by id is taken once: a repeat is a 409, and info is gone after it', async (t) => {
  const [n, client] = await native(t, 'node.dispatch.raw', 'D.Raw');
  const call = client.call('node.dispatch.raw', 'D.Raw', { q: 1 }, { address: n.address, metadata: { 'X-K': 'v' } });
  const batch = await n.nextRequests(8);
  assert.equal(batch.calls.length, STRIDE);
  assert.equal(batch.others.length, 0);
  const [id, end, ep, ct, sv] = batch.calls;
  assert.equal(batch.names[ep], 'D.Raw');
  assert.equal(batch.names[ct], 'application/json');
  assert.equal(batch.names[sv], 'node.dispatch.raw');
  assert.equal(batch.traceparents, undefined);
  assert.equal(batch.bodies.subarray(0, end).toString(), '{"q":1}');
  const info = n.callInfo(id);
  assert.equal(info.service, 'node.dispatch.raw');
  assert.equal(info.header['X-K'], 'v');
  n.respondCall(id, Buffer.from('{"ok":true}'), 'application/json');
  assert.deepEqual(await call, { ok: true });
  assert.equal(n.callInfo(id), null);
  assert.throws(() => n.respondCall(id, Buffer.from('{}')), (e) => e.code === 409 || /409|already answered/.test(String(e.message)));
  assert.throws(() => n.failCall(id, '', 500, 'late'), (e) => e.code === 409 || /409|already answered/.test(String(e.message)));
  assert.throws(() => n.respondCall(123456789, null), (e) => e.code === 409 || /409|already answered/.test(String(e.message)));
});

test('respondCalls answers a batch at once, skips calls answered already and checks its columns', async (t) => {
  const [n, client] = await native(t, 'node.dispatch.many', 'D.Many');
  const opts = { address: n.address, contentType: 'application/json' };
  const calls = [1, 2, 3].map((k) => client.call('node.dispatch.many', 'D.Many', { k }, opts));
  const [ids, ks] = await pullCalls(n, 3);
  n.respondCall(ids[0], Buffer.from('{"first":true}'));
  // Columns that do not line up, or a body end outside the buffer, answer nothing.
  assert.throws(() => n.respondCalls(Float64Array.from(ids), new Uint32Array(2), Buffer.alloc(0)), /400|differ in length/);
  assert.throws(() => n.respondCalls(Float64Array.from(ids), Uint32Array.from([1, 2, 99]), Buffer.alloc(3)), /400|outside/);
  assert.throws(() => n.respondCalls(Float64Array.from(ids), Uint32Array.from([2, 1, 3]), Buffer.alloc(3)), /400|outside/);
  assert.notEqual(n.callInfo(ids[1]), null);
  const bodies = ids.map((id) => Buffer.from(JSON.stringify({ k: ks.get(id) * 10 })));
  const ends = new Uint32Array(bodies.reduce((a, b) => [...a, (a.at(-1) ?? 0) + b.length], []));
  n.respondCalls(Float64Array.from(ids), ends, Buffer.concat(bodies), [null, null, 'application/x-odd+json']);
  const got = await Promise.allSettled(calls);
  const byK = new Map(got.map((g, i) => [i + 1, g]));
  const odd = ks.get(ids[2]);
  for (const [k, g] of byK) {
    if (k === ks.get(ids[0])) assert.deepEqual(g.value, { first: true }); // answered before
    else if (k === odd) assert.equal(g.status, 'fulfilled'); // its own content type, still JSON
    else assert.deepEqual(g.value, { k: k * 10 });
  }
  for (const id of ids) assert.equal(n.callInfo(id), null);
});

test('respondLines answers a batch with JSON texts, one a line, and checks the count', async (t) => {
  const [n, client] = await native(t, 'node.dispatch.lines', 'D.Lines');
  const opts = { address: n.address, contentType: 'application/json' };
  const calls = [1, 2, 3].map((k) => client.callRaw('node.dispatch.lines', 'D.Lines', { k }, opts));
  const [ids, ks] = await pullCalls(n, 3);
  n.respondCall(ids[0], Buffer.from('{"first":true}'));
  // A count of lines other than of ids, or text after the last newline, answers nothing.
  assert.throws(() => n.respondLines(Float64Array.from(ids), '{}\n{}\n'), /400|3 ids, 2 lines/);
  assert.throws(() => n.respondLines(Float64Array.from(ids), '{}\n{}\n{}'), /400|3 ids/);
  assert.throws(() => n.respondLines(Float64Array.from(ids), '{}\n{}\n{}\n{}\n'), /400|3 ids, 4 lines/);
  assert.notEqual(n.callInfo(ids[1]), null);
  n.respondLines(Float64Array.from(ids), ids.map((id) => JSON.stringify({ k: ks.get(id) * 10, s: 'é\n' })).join('\n') + '\n');
  const got = await Promise.all(calls);
  for (const [i, r] of got.entries()) {
    const k = i + 1;
    if (k === ks.get(ids[0])) {
      assert.equal(r.raw.toString(), '{"first":true}'); // answered before, left alone
    } else {
      assert.equal(r.raw.toString(), JSON.stringify({ k: k * 10, s: 'é\n' }) + '\n');
      assert.equal(r.contentType, 'application/json');
    }
  }
  for (const id of ids) assert.equal(n.callInfo(id), null);
});

test('a batch of JSON replies, bytes and failures each answers its own call', async (t) => {
  const svc = await service('node.dispatch.mixed', (s) => {
    s.handle('D.Mixed', async (req) => {
      if (req.k % 4 === 0) return Buffer.from(`bytes ${req.k}`);
      if (req.k % 4 === 1) return { k: req.k, text: 'line\nbreak' };
      if (req.k % 4 === 2) return { big: 1n }; // JSON cannot encode a BigInt
      return undefined; // {}
    });
  });
  t.after(() => svc.close());
  const c = svc.client();
  const opts = { contentType: 'application/json' };
  const got = await Promise.allSettled(Array.from({ length: 24 }, (_, k) => c.callRaw('node.dispatch.mixed', 'D.Mixed', { k }, opts)));
  for (const [k, g] of got.entries()) {
    if (k % 4 === 2) {
      assert.equal(g.status, 'rejected', `call ${k}`);
      assert.equal(g.reason.code, 500);
      assert.match(g.reason.detail, /reply: body cannot be encoded as JSON/);
      continue;
    }
    assert.equal(g.status, 'fulfilled', `call ${k}`);
    const raw = g.value.raw.toString();
    if (k % 4 === 0) assert.equal(raw, `bytes ${k}`);
    else if (k % 4 === 1) assert.equal(raw, JSON.stringify({ k, text: 'line\nbreak' }) + '\n');
    else assert.equal(raw, '{}\n');
  }
});

test('each call of a batch carries its own trace context, or none', async (t) => {
  const [n, client] = await native(t, 'node.dispatch.traced', 'D.T');
  const tp = (k) => `00-${String(k).padStart(32, '0')}-${'1'.repeat(16)}-01`;
  const opts = (k) => ({ address: n.address, metadata: k % 3 === 1 ? { Traceparent: tp(k) } : {} });
  const calls = Array.from({ length: 12 }, (_, k) => client.call('node.dispatch.traced', 'D.T', { k }, opts(k)));
  let seen = 0;
  while (seen < 12) {
    const b = await n.nextRequests(64);
    let start = 0;
    for (let j = 0, i = 0; j < b.calls.length; j += STRIDE, i++) {
      const k = JSON.parse(b.bodies.subarray(start, b.calls[j + 1]).toString()).k;
      start = b.calls[j + 1];
      const got = b.traceparents === undefined ? null : b.traceparents[i];
      assert.equal(got, k % 3 === 1 ? tp(k) : null, `call ${k}`);
      assert.equal(b.traceparents === undefined || b.traceparents.length === b.calls.length / STRIDE, true);
      n.respondCall(b.calls[j], Buffer.from('{}'));
      seen++;
    }
  }
  await Promise.all(calls);
});

test('a call its handler never answers gets an error once the service stops', async () => {
  let entered;
  const inHandler = new Promise((r) => { entered = r; });
  const svc = await service('node.dispatch.never', (s) => {
    s.handle('D.Never', () => { entered(); return new Promise(() => {}); });
  });
  const c = svc.client();
  const call = c.call(svc.name, 'D.Never', {}, { address: svc.address, timeout: 60000 });
  await inHandler;
  const closing = svc.close();
  await assert.rejects(call, (e) => e instanceof micro.MicroError && e.code >= 500);
  await closing;
});
