'use strict';
// Wrappers (go-micro's "extend by wrapping"): handler, subscriber and client wrappers on a
// real service and client over the memory registry and broker and loopback.
const test = require('node:test');
const assert = require('node:assert/strict');
const micro = require('..');

function echo(name) {
  const svc = new micro.Service({ name, registry: 'memory', broker: 'memory', address: '127.0.0.1:0' });
  svc.handle('Echo.Call', async (req, ctx) => ({ req, user: ctx.header['X-User'] || null }));
  return svc;
}

test('handler wrappers see, change and short-circuit a call, in the order added', async (t) => {
  const svc = echo('node.wrap.server');
  const trace = [];
  svc.wrap(async (req, ctx, next) => {
    trace.push(['outer', ctx.endpoint, { ...req }]);
    if (req.stop) return { short: true }; // the handler never runs
    const rsp = await next(req, ctx);
    return { ...rsp, outer: true };
  }).wrap(async (req, ctx, next) => {
    trace.push(['inner', { ...req }]);
    return next({ ...req, added: 'by inner' }, ctx);
  });
  await svc.start();
  t.after(() => svc.close());
  const c = svc.client();
  assert.deepEqual(await c.call('node.wrap.server', 'Echo.Call', { n: 1 }),
    { req: { n: 1, added: 'by inner' }, user: null, outer: true });
  assert.deepEqual(trace, [['outer', 'Echo.Call', { n: 1 }], ['inner', { n: 1 }]]);
  trace.length = 0;
  assert.deepEqual(await c.call('node.wrap.server', 'Echo.Call', { stop: true }), { short: true });
  assert.deepEqual(trace, [['outer', 'Echo.Call', { stop: true }]]);
});

test('a throw in a wrapper is a 500 for that call only', async (t) => {
  const svc = echo('node.wrap.boom');
  svc.wrap(async (req, ctx, next) => {
    if (req.boom) throw new TypeError('wrapper broke');
    if (req.deny) throw new micro.MicroError({ id: 'node.wrap.boom', code: 403, detail: 'no' });
    return next(req, ctx);
  });
  await svc.start();
  t.after(() => svc.close());
  const c = svc.client();
  await assert.rejects(c.call('node.wrap.boom', 'Echo.Call', { boom: true }),
    { name: 'MicroError', code: 500, detail: 'TypeError: wrapper broke' });
  await assert.rejects(c.call('node.wrap.boom', 'Echo.Call', { deny: true }), { name: 'MicroError', code: 403, detail: 'no' });
  assert.deepEqual(await c.call('node.wrap.boom', 'Echo.Call', { ok: 1 }), { req: { ok: 1 }, user: null });
});

test('a subscriber wrapper sees and can drop messages', async (t) => {
  const svc = echo('node.wrap.sub');
  const got = [];
  const seen = [];
  svc.subscribe('events', (body) => { got.push(body); });
  svc.wrapSubscriber(async (msg, next) => {
    seen.push([msg.topic, msg.body]);
    if (msg.body.drop) return;
    await next(msg);
  });
  await svc.start();
  t.after(() => svc.close());
  const c = svc.client();
  await c.publish('events', { n: 1 });
  await c.publish('events', { n: 2, drop: true });
  await c.publish('events', { n: 3 });
  assert.deepEqual(seen, [['events', { n: 1 }], ['events', { n: 2, drop: true }], ['events', { n: 3 }]]);
  assert.deepEqual(got, [{ n: 1 }, { n: 3 }]);
});

test('client wrappers add metadata the handler sees and can short-circuit', async (t) => {
  const svc = echo('node.wrap.client');
  await svc.start();
  t.after(() => svc.close());
  const calls = [];
  const c = new micro.Client({
    registry: 'memory',
    wrappers: [async (call, next) => {
      calls.push([call.service, call.endpoint, call.body]);
      call.metadata['X-User'] = 'u1';
      return next(call);
    }],
  });
  c.wrap(async (call, next) => {
    if (call.endpoint === 'Echo.Cached') return new micro.Reply({ body: Buffer.from('{"cached":true}'), contentType: 'application/json' });
    const r = await next(call);
    assert.ok(r.node.length > 0); // the real reply, from the node that answered
    return r;
  });
  const address = svc.address; // the client's own memory registry does not know the service
  assert.deepEqual(await c.call('node.wrap.client', 'Echo.Call', { n: 1 }, { address }), { req: { n: 1 }, user: 'u1' });
  assert.deepEqual(await c.call('node.wrap.client', 'Echo.Cached', {}), { cached: true });
  const raw = await c.callRaw('node.wrap.client', 'Echo.Call', { n: 2 }, { metadata: { 'X-User': 'mine' }, address });
  assert.deepEqual(raw.body, { req: { n: 2 }, user: 'u1' }); // the wrapper overwrote it
  assert.deepEqual(calls, [['node.wrap.client', 'Echo.Call', { n: 1 }], ['node.wrap.client', 'Echo.Cached', {}],
    ['node.wrap.client', 'Echo.Call', { n: 2 }]]);
  await assert.rejects(c.call('node.wrap.client', 'Echo.Call', {}, { timeout: -1, address }), { name: 'MicroError', code: 400 });
});

test('a wrapper that is not a function is a 400', () => {
  const svc = new micro.Service({ name: 'node.wrap.bad', registry: 'memory' });
  for (const add of [(f) => svc.wrap(f), (f) => svc.wrapSubscriber(f), (f) => new micro.Client({ registry: 'memory' }).wrap(f)]) {
    assert.throws(() => add('nope'), { name: 'MicroError', code: 400 });
  }
  assert.throws(() => new micro.Client({ registry: 'memory', wrappers: 'nope' }), { name: 'MicroError', code: 400 });
});
