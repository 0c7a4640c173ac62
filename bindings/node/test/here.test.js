'use strict';
// Calls owned by the JS thread (issue 18): a call with nothing else of the thread pending
// runs on the main thread's own runtime, libuv watching its sockets. These tests check that
// it is that path, and everything a call must still do on it: answer, time out, overlap with
// calls on the shared runtime, survive its server going away, and leave Node free to exit.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Worker } = require('node:worker_threads');
const micro = require('..');
const { native } = micro;

async function slowServer(name) {
  const svc = new micro.Service({ name, registry: 'memory', broker: 'memory', address: '127.0.0.1:0' });
  const calls = [];
  svc.handle('Slow.Sleep', (req) => {
    calls.push(req.s);
    // Unreferenced: a sleep cut short by the client's timeout does not hold the test
    // process open until it ends.
    return new Promise((resolve) => setTimeout(() => resolve({ slept: req.s }), req.s).unref());
  });
  await svc.start();
  return { svc, calls, address: svc.address };
}

const stats = () => {
  const [pumps, watched, answered] = native.hereStats();
  return { pumps, watched, answered };
};

test('a call with nothing else pending is watched by the loop', async (t) => {
  const { svc, address } = await slowServer('node.here.a');
  t.after(() => svc.close());
  const c = new micro.Client({ registry: 'memory', retries: 0 });
  const before = stats();
  assert.deepEqual(await c.call('node.here.a', 'Slow.Sleep', { s: 0 }, { address }), { slept: 0 });
  // The connection the call dialled is watched by libuv; its reply came through it.
  const after = stats();
  assert.equal(after.watched, 1, JSON.stringify(after));
  assert.ok(after.pumps > before.pumps, JSON.stringify([before, after]));
  // Sequential calls reuse that connection: no other socket. Their replies are settled by
  // the callback that read them, not by a ring of the bell and another turn of the loop
  // (a ring can still win now and then: the service's own requests, in this process, ring).
  const answered = stats().answered;
  for (let i = 0; i < 50; i++) {
    assert.deepEqual(await c.call('node.here.a', 'Slow.Sleep', { s: 0 }, { address }), { slept: 0 });
  }
  assert.equal(stats().watched, 1);
  assert.ok(stats().answered - answered >= 25, JSON.stringify([answered, stats()]));
  // Concurrent calls: the first on this thread, the others on the shared runtime.
  const got = await Promise.all([...Array(10).keys()].map((i) => c.call('node.here.a', 'Slow.Sleep', { s: 5 * i }, { address })));
  assert.deepEqual(got, [...Array(10).keys()].map((i) => ({ slept: 5 * i })));
  // callRaw takes the same path.
  const r = await c.callRaw('node.here.a', 'Slow.Sleep', { s: 0 }, { address });
  assert.deepEqual(r.body, { slept: 0 });
});

test('a call here times out, and the next is answered', async (t) => {
  const { svc, calls, address } = await slowServer('node.here.b');
  t.after(() => svc.close());
  const c = new micro.Client({ registry: 'memory', retries: 0 });
  const t0 = Date.now();
  const pending = c.call('node.here.b', 'Slow.Sleep', { s: 30000 }, { address, requestTimeout: 500 });
  while (calls.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(stats().watched, 1, 'the call did not run on the JS thread');
  await assert.rejects(pending, (e) => e.code === 408);
  assert.deepEqual(calls, [30000]);
  assert.ok(Date.now() - t0 < 25000, 'the timeout fired long after the server would have answered');
  assert.deepEqual(await c.call('node.here.b', 'Slow.Sleep', { s: 0 }, { address }), { slept: 0 });
});

test('a server closing an idle connection does not spin the loop', async () => {
  const { svc, address } = await slowServer('node.here.c');
  const c = new micro.Client({ registry: 'memory', retries: 0 });
  assert.deepEqual(await c.call('node.here.c', 'Slow.Sleep', { s: 0 }, { address }), { slept: 0 });
  assert.equal(stats().watched, 1);
  // The server goes: the pooled connection reads as closed, and nobody reads it.
  await svc.close();
  const before = stats().pumps;
  // A loop that reported the socket on every iteration would pump thousands of times in
  // this while; a muted one pumps once or twice. (On a machine so busy that the loop
  // barely runs meanwhile this cannot fail, only pass.)
  for (let i = 0; i < 200; i++) await new Promise((resolve) => setTimeout(resolve, 1));
  const pumped = stats().pumps - before;
  assert.ok(pumped < 20, `${pumped} pumps with no call in flight`);
  assert.equal(stats().watched, 0, 'the closed connection is no longer watched');
  await assert.rejects(c.call('node.here.c', 'Slow.Sleep', { s: 0 }, { address, requestTimeout: 5000 }));
});

test('a worker thread calls through the shared runtime', async (t) => {
  const { svc, address } = await slowServer('node.here.d');
  t.after(() => svc.close());
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const micro = require(workerData.pkg);
    (async () => {
      const c = new micro.Client({ registry: 'memory', retries: 0 });
      const r = await c.call('node.here.d', 'Slow.Sleep', { s: 0 }, { address: workerData.address });
      parentPort.postMessage({ r, stats: micro.native.hereStats() });
    })().catch((e) => parentPort.postMessage({ error: String(e) }));`;
  const w = new Worker(code, { eval: true, workerData: { pkg: require.resolve('..'), address } });
  const msg = await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  assert.deepEqual(msg.r, { slept: 0 }, JSON.stringify(msg));
  assert.equal(msg.stats[1], 0, 'a worker thread watches nothing of its own');
  await w.terminate();
});

test('the addon loads without libuv: its uv_ functions are looked up, not linked', (t) => {
  // Linked, they would be bound as the addon loads (it is linked to bind every symbol
  // then), so an N-API runtime without libuv could not load it at all.
  const fs = require('node:fs');
  const path = require('node:path');
  const { execFileSync } = require('node:child_process');
  const local = path.join(__dirname, '..', 'micro.node');
  const file = process.env.MICRO_NODE_ADDON || local;
  if (!fs.existsSync(file)) return t.skip(`no addon at ${file} (a prebuilt package)`);
  const undefinedSymbols = execFileSync('nm', ['-D', '--undefined-only', file], { encoding: 'utf8' });
  assert.match(undefinedSymbols, /napi_create_promise/, 'nm lists what the addon binds at load');
  const uv = undefinedSymbols.split('\n').filter((l) => /\buv_/.test(l));
  assert.deepEqual(uv, [], 'libuv functions bound at load');
});
