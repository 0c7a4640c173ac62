'use strict';
// The event loop stays alive exactly while a service is open, and a throwing callback
// never kills the process. Each case runs in a child `node` process.
const test = require('node:test');
const assert = require('node:assert/strict');
const { runNode } = require('./helpers');

const PRE = `const micro = require('.');
const svc = new micro.Service({ name: 'life', registry: 'memory', broker: 'memory', address: '127.0.0.1:0' });
svc.handle('A.B', () => ({ ok: true }));`;

test('an open service keeps the process alive', async () => {
  const r = await runNode(`${PRE}
svc.start().then(() => console.log('started'));`, { timeout: 2500 });
  assert.equal(r.stdout.trim(), 'started', r.stderr);
  assert.ok(r.killed, 'the process was still running when killed');
});

test('the process exits by itself after close()', async () => {
  const r = await runNode(`${PRE}
(async () => {
  await svc.start();
  const c = svc.client();
  console.log(JSON.stringify(await c.call('life', 'A.B', {})));
  await svc.close();
  console.log('closed');
})();`, { timeout: 10000 });
  assert.equal(r.killed, false, `did not exit: ${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['{"ok":true}', 'closed']);
  assert.ok(r.ms < 5000, `took ${r.ms} ms`);
});

test('a client alone does not keep the process alive', async () => {
  const r = await runNode(`const micro = require('.');
const c = new micro.Client({ registry: 'memory' });
c.call('nobody', 'A.B', {}, { retries: 0 }).catch((e) => console.log(e.code >= 400));`, { timeout: 10000 });
  assert.equal(r.killed, false);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'true');
});

test('throwing handlers and subscribers never kill the process', async () => {
  const r = await runNode(`${PRE}
svc.handle('A.Throw', () => { throw new Error('x'); });
svc.handle('A.Reject', async () => { throw null; });
svc.handle('A.BadReply', () => ({ big: 1n }));
svc.handle('A.Stream', async (s) => { await s.recv(); throw new Error('stream boom'); }, { stream: true });
svc.subscribe('t', () => { throw new Error('sub boom'); });
svc.subscribe('t2', async () => { throw new Error('async sub boom'); });
(async () => {
  await svc.start();
  const c = svc.client();
  const out = [];
  for (const ep of ['A.Throw', 'A.Reject', 'A.BadReply']) {
    try { await c.call('life', ep, {}); out.push('no error'); } catch (e) { out.push(e.code); }
  }
  const s = await c.stream('life', 'A.Stream');
  await s.send({});
  try { await s.recv(); out.push('no error'); } catch (e) { out.push(e.code); }
  await s.close();
  for (const t of ['t', 't2']) await c.publish(t, {}).catch(() => {});
  out.push((await c.call('life', 'A.B', {})).ok);
  console.log(JSON.stringify(out));
  await svc.close();
})();`, { timeout: 10000 });
  assert.equal(r.killed, false, r.stderr);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim()), [500, 500, 500, 500, true]);
  assert.match(r.stderr, /sub boom/);
  assert.match(r.stderr, /async sub boom/);
});
