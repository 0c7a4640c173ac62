'use strict';
// What a newcomer sees when something goes wrong (issue #23), as the Python suite's
// test_errors.py: a failing handler's warning and detail, the one way to build an error,
// durations in milliseconds, a service that was never started, a publish nobody receives,
// and wrapping a downstream error. Each test asserts the message the user reads.
const test = require('node:test');
const assert = require('node:assert/strict');
const micro = require('..');
const { runNode } = require('./helpers');

async function orders(name = 'node.orders') {
  const svc = new micro.Service({ name, registry: 'memory', broker: 'memory', address: '127.0.0.1:0' });
  svc.handle('Orders.Place', (req) => ({ qty: req.item.qty })); // a TypeError when "item" is missing
  svc.handle('Orders.Slow', (req) => new Promise((resolve) => setTimeout(() => resolve({}), req.ms)));
  svc.handle('Orders.CheckStock', async (req) => {
    try {
      return await svc.client().call('node.inventory', 'Inventory.Reserve', {});
    } catch (e) {
      if (req.wrap) throw micro.MicroError.wrap(e, { code: 502 });
      throw e; // passed through unchanged, as go-micro does
    }
  });
  await svc.start();
  return svc;
}

test('a throwing handler is reported with its stack and its type reaches the caller', async (t) => {
  const svc = await orders();
  t.after(() => svc.close());
  const warned = new Promise((resolve) => {
    const on = (w) => { if (w.name === 'MicroWarning') { process.off('warning', on); resolve(w); } };
    process.on('warning', on);
  });
  await assert.rejects(svc.client().call(svc.name, 'Orders.Place', {}), (e) => {
    assert.deepEqual([e.id, e.code, e.detail], [svc.name, 500, "TypeError: Cannot read properties of undefined (reading 'qty')"]);
    return true;
  });
  const w = await warned;
  assert.match(w.message, /^micro: handler of Orders\.Place threw TypeError: Cannot read properties of undefined \(reading 'qty'\)\nTypeError: /);
  assert.match(w.message, /errors\.test\.js:\d+/, 'the stack points at the handler');
});

test('errors are built from one options object and misuse says how', () => {
  const e = new micro.MicroError({ id: 'node.orders', code: 409, detail: 'out of stock' });
  assert.deepEqual([e.id, e.code, e.detail, e.status], ['node.orders', 409, 'out of stock', 'Conflict']);
  assert.deepEqual(new micro.MicroError({ detail: 'x' }).toJSON(), { id: '', code: 500, detail: 'x', status: 'Internal Server Error' });
  assert.equal(new micro.MicroError('node.orders', 404, 'gone').status, 'Not Found'); // positional: unambiguous types
  const form = "write new MicroError({ id: 'my.service', code: 409, detail: 'what went wrong' })";
  assert.throws(() => new micro.MicroError('node.orders', 'out of stock', 409),
    { name: 'TypeError', message: `MicroError: code must be an integer such as 404, got the string "out of stock"; ${form}` });
  assert.throws(() => new micro.MicroError({ id: 'node.orders', code: 409 }, 'out of stock'),
    { name: 'TypeError', message: `MicroError takes one options object, got a second argument (the string "out of stock"); ${form}` });
  assert.throws(() => new micro.MicroError({ id: 'node.orders', message: 'out of stock' }),
    { name: 'TypeError', message: `MicroError: unknown option "message" (id, code, detail, status, cause); ${form}` });
  assert.throws(() => new micro.MicroError({ id: { name: 'x' } }),
    { name: 'TypeError', message: `MicroError: id must be a string, got object; ${form}` });
});

test('durations are milliseconds and wrong units are named', async (t) => {
  const svc = await orders();
  t.after(() => svc.close());
  const c = svc.client();
  await assert.rejects(c.call(svc.name, 'Orders.Slow', { ms: 5000 }, { timeout: 200 }), { code: 408 });
  await assert.rejects(c.call(svc.name, 'Orders.Slow', { ms: 0 }, { timeout: -1 }),
    { code: 400, detail: 'timeout must be a positive number of milliseconds, got -1' });
  await assert.rejects(c.call(svc.name, 'Orders.Slow', { ms: 0 }, { timeout: 0.5 }),
    { code: 400, detail: 'timeout: 0.5 ms is less than a millisecond; Node durations are milliseconds (timeout: 500 is half a second)' });
  await assert.rejects(c.call(svc.name, 'Orders.Slow', { ms: 0 }, { requestTimeout: 5e9 }),
    { code: 400, detail: 'requestTimeout: 5000000000 ms is more than the 3600000 ms accepted; Node durations are milliseconds, not microseconds or nanoseconds' });
  await assert.rejects(c.call(svc.name, 'Orders.Slow', { ms: 0 }, { timeout: '1s' }),
    { code: 400, detail: 'timeout must be a number of milliseconds, got string' });
  assert.throws(() => new micro.Client({ requestTimeout: 0 }),
    { code: 400, detail: 'requestTimeout: 0 ms is less than a millisecond; Node durations are milliseconds (requestTimeout: 500 is half a second)' });
  assert.throws(() => new micro.Service({ name: 'x', registerTtl: -5 }),
    { code: 400, detail: 'registerTtl must be a positive number of milliseconds, got -5' });
});

test('calling a service this process never started hints at start()', async () => {
  const svc = new micro.Service({ name: 'node.never.started', registry: 'memory' });
  svc.handle('Orders.Place', () => ({}));
  const c = new micro.Client({ registry: 'memory' });
  await assert.rejects(c.call('node.never.started', 'Orders.Place', {}), {
    code: 404,
    id: 'go.micro.client',
    detail: 'service node.never.started: not found in the memory registry; hint: this process created service node.never.started but never started it (await svc.start() before calling it)',
  });
  await assert.rejects(c.call('node.someone.else', 'X.Y', {}), (e) => e.code === 404 && !e.detail.includes('hint'));
  await svc.close();
});

test('a service with handlers never started warns before the process exits', async () => {
  const forgot = await runNode(`
    const micro = require('.');
    const svc = new micro.Service({ name: 'node.forgotten', registry: 'memory' });
    svc.handle('Orders.Place', () => ({}));
    // no: await svc.start()
  `);
  assert.equal(forgot.code, 0, forgot.stderr);
  assert.match(forgot.stderr, /MicroWarning: micro: service node\.forgotten was never started, so nobody could call it \(Orders\.Place\): call await svc\.start\(\)/);
  const started = await runNode(`
    const micro = require('.');
    const svc = new micro.Service({ name: 'node.remembered', registry: 'memory', address: '127.0.0.1:0' });
    svc.handle('Orders.Place', () => ({}));
    svc.start().then(() => svc.close());
  `);
  assert.equal(started.code, 0, started.stderr);
  assert.doesNotMatch(started.stderr, /never started/);
});

test('publishing with no subscriber is a 404 that says so', async () => {
  const c = new micro.Client({ registry: 'memory', broker: 'http' });
  await assert.rejects(c.publish('node.nobody', { n: 1 }), {
    id: 'go.micro.broker',
    code: 404,
    status: 'Not Found',
    detail: 'service micro.http.broker: not found (no subscriber for "node.nobody"; the message stays queued for the next publish)',
  });
});

test('a downstream error passes through, or is wrapped as a 502 keeping its cause', async (t) => {
  const svc = await orders();
  t.after(() => svc.close());
  await assert.rejects(svc.client().call(svc.name, 'Orders.CheckStock', {}), { id: 'go.micro.client', code: 404 });
  await assert.rejects(svc.client().call(svc.name, 'Orders.CheckStock', { wrap: true }), {
    id: svc.name,
    code: 502,
    status: 'Bad Gateway',
    detail: 'downstream call failed: {"id":"go.micro.client","code":404,"detail":"service node.inventory: not found in the memory registry","status":"Not Found"}',
  });
  const cause = new micro.MicroError({ id: 'x', code: 404, detail: 'gone' });
  const w = micro.MicroError.wrap(cause, { code: 503, id: 'node.orders' });
  assert.deepEqual([w.code, w.id, w.cause], [503, 'node.orders', cause]);
  assert.equal(micro.MicroError.wrap(new RangeError('too big')).detail, 'downstream call failed: RangeError: too big');
});

test('a timeout is final unless the call is marked safe to repeat', async (t) => {
  // go-micro servers now and then read a request and never answer it (docs/library.md,
  // "Lost requests"). By default a timed-out attempt is final; `retryTimeouts: true`
  // re-sends it, so an idempotent call waits one short `timeout` instead of failing. Here
  // the first request of each key is never answered.
  const svc = new micro.Service({ name: 'node.flaky', registry: 'memory', broker: 'memory', address: '127.0.0.1:0' });
  const seen = [];
  const held = [];
  svc.handle('Flaky.Get', (req) => {
    seen.push(req.k);
    const n = seen.filter((k) => k === req.k).length;
    if (n === 1) return new Promise((resolve) => held.push(() => resolve({ k: req.k, n })));
    return { k: req.k, n };
  });
  await svc.start();
  t.after(async () => { for (const r of held) r(); await svc.close(); });
  // By address: a client's memory registry is its own.
  const { address } = svc;
  const c = new micro.Client({ registry: 'memory' });

  await assert.rejects(c.call(svc.name, 'Flaky.Get', { k: 'a' }, { address, timeout: 1000, retries: 2 }), (e) => e.code === 408);
  // The next call is sent after the 408 came back: had the first been re-sent, its second
  // copy would be in `seen` already.
  assert.deepEqual(await c.call(svc.name, 'Flaky.Get', { k: 'a' }, { address }), { k: 'a', n: 2 });
  assert.deepEqual(seen, ['a', 'a']);

  const opts = { address, timeout: 1000, retries: 2, retryTimeouts: true };
  assert.deepEqual(await c.call(svc.name, 'Flaky.Get', { k: 'b' }, opts), { k: 'b', n: 2 });
  assert.deepEqual((await c.callRaw(svc.name, 'Flaky.Get', { k: 'c' }, opts)).body, { k: 'c', n: 2 });

  // A client wrapper may mark a call safe to repeat.
  const wc = new micro.Client({ registry: 'memory', wrappers: [(call, next) => next({ ...call, retryTimeouts: true })] });
  assert.deepEqual(await wc.call(svc.name, 'Flaky.Get', { k: 'e' }, { address, timeout: 1000, retries: 1 }), { k: 'e', n: 2 });

  await assert.rejects(c.call(svc.name, 'Flaky.Get', { k: 'f' }, { address, retryTimeouts: 1 }),
    (e) => e.code === 400 && /retryTimeouts must be a boolean, got number/.test(e.detail));
});

test('whatever a handler throws answers its caller, and the service and the process go on', async (t) => {
  // Before, a thrown object whose toString throws ended the process (an unhandled
  // rejection from the error path), as did a reply whose `then` getter throws (read outside
  // any guard, in the batch's loop); a MicroError whose code was changed to a string, or
  // whose detail getter throws, left its caller waiting for a reply that never came.
  const svc = new micro.Service({ name: 'node.unsendable', registry: 'memory', broker: 'memory', address: '127.0.0.1:0' });
  const bomb = () => ({ toString() { throw new Error('toString boom'); } });
  const cases = {
    'U.ToString': [() => { throw bomb(); }, 'object (its message cannot be read: Error)'],
    'U.ToStringAsync': [async () => { throw bomb(); }, 'object (its message cannot be read: Error)'],
    'U.Proxy': [() => { throw new Proxy({}, { get() { throw new RangeError('trap'); } }); }, 'object (its message cannot be read: RangeError)'],
    'U.Message': [() => {
      const e = new TypeError('m');
      Object.defineProperty(e, 'message', { get() { throw new Error('message boom'); } });
      throw e;
    }, 'TypeError (its message cannot be read: Error)'],
    'U.Code': [() => {
      const e = new micro.MicroError({ detail: 'taken', code: 409 });
      e.code = '409';
      throw e;
    }, /^the handler threw MicroError, which cannot be sent as an error \(/],
    'U.Detail': [() => {
      const e = new micro.MicroError({ detail: 'taken', code: 409 });
      Object.defineProperty(e, 'detail', { get() { throw new Error('detail boom'); } });
      throw e;
    }, 'the handler threw MicroError, which cannot be sent as an error (Error: detail boom)'],
  };
  // A reply that throws when read: a `then` getter (is it a promise?), a Proxy.
  cases['U.ThenGetter'] = [() => ({ get then() { throw new Error('then boom'); } }), 'Error: then boom'];
  cases['U.ProxyReply'] = [() => new Proxy({}, { get() { throw new Error('trap boom'); } }), 'Error: trap boom'];
  for (const [ep, [fn]] of Object.entries(cases)) svc.handle(ep, fn);
  svc.handle('U.Ok', () => ({ ok: true }));
  const seen = [];
  svc.subscribe('node.unsendable', (msg) => {
    seen.push(msg);
    if (msg.bad) throw bomb();
  });
  await svc.start();
  t.after(() => svc.close());
  const c = svc.client();
  for (const [ep, [, detail]] of Object.entries(cases)) {
    await assert.rejects(c.call(svc.name, ep, {}, { timeout: 30000 }), (e) => {
      assert.equal(e.code, 500, `${ep}: ${e.detail}`);
      if (typeof detail === 'string') assert.equal(e.detail, detail, ep);
      else assert.match(e.detail, detail, ep);
      return true;
    });
    assert.deepEqual(await c.call(svc.name, 'U.Ok', {}), { ok: true });
  }
  // Side by side in one batch, the throwing replies take no other call with them.
  const mixed = await Promise.allSettled(Array.from({ length: 40 }, (_, i) =>
    c.call(svc.name, i % 2 ? 'U.Ok' : 'U.ThenGetter', {}, { timeout: 30000 })));
  assert.deepEqual(mixed.map((r) => (r.status === 'fulfilled' ? 'ok' : r.reason.code)),
    Array.from({ length: 40 }, (_, i) => (i % 2 ? 'ok' : 500)));
  await assert.rejects(c.publish('node.unsendable', { bad: true }), (e) => {
    assert.deepEqual([e.code, e.detail], [500, 'object (its message cannot be read: Error)']);
    return true;
  });
  await c.publish('node.unsendable', { bad: false });
  assert.deepEqual(seen, [{ bad: true }, { bad: false }]);
});

test('counts out of range are a 400 naming them, not a number wrapped round', async (t) => {
  // napi took retries: -1 as 4294967295 retries, and poolSize: '4' failed as a 500.
  const cases = [
    [{ retries: -1 }, 'retries must be a non-negative integer, got -1'],
    [{ retries: 1.5 }, 'retries must be a non-negative integer, got 1.5'],
    [{ poolSize: -1 }, 'poolSize must be a non-negative integer, got -1'],
    [{ poolSize: '4' }, 'poolSize must be a non-negative integer, got string'],
    [{ retries: 2 ** 32 }, 'retries must be at most 4294967295, got 4294967296'],
  ];
  for (const [o, detail] of cases) {
    assert.throws(() => new micro.Client({ registry: 'memory', ...o }), (e) => {
      assert.deepEqual([e.code, e.detail], [400, detail]);
      return true;
    });
  }
  const svc = await orders('node.counts');
  t.after(() => svc.close());
  await assert.rejects(svc.client().call(svc.name, 'Orders.Slow', { ms: 1 }, { retries: -2 }), (e) => {
    assert.deepEqual([e.code, e.detail], [400, 'retries must be a non-negative integer, got -2']);
    return true;
  });
  assert.deepEqual(await svc.client().call(svc.name, 'Orders.Slow', { ms: 1 }, { retries: 0 }), {});
});
