'use strict';
// The client's selector strategy ({ selector }, go-micro's MICRO_SELECTOR): round-robin
// alternates strictly between the two nodes of a service, random reaches both, a bad value
// is refused, and the option wins over the variable. The two services each have their own
// memory registry (one per instance), so the client is given both addresses: its selector
// picks among them exactly as among a service's registered nodes.
const test = require('node:test');
const assert = require('node:assert/strict');
const micro = require('..');
const { runNode } = require('./helpers');

/** Two started services of one name answering `Who.Ami` with their own node id. */
async function twoServices() {
  const svcs = [];
  for (let i = 0; i < 2; i++) {
    const svc = new micro.Service({ name: 'node.selector', registry: 'memory', broker: 'memory', address: '127.0.0.1:0' });
    svc.handle('Who.Ami', () => ({ id: svc.id }));
    await svc.start();
    svcs.push(svc);
  }
  return svcs;
}

async function seen(c, address, n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push((await c.call('node.selector', 'Who.Ami', {}, { address })).id);
  return out;
}

const alternates = (s) => new Set(s).size === 2 && s.every((x, i) => i === 0 || x !== s[i - 1]);

test('round-robin alternates between two services; random reaches both', async (t) => {
  const svcs = await twoServices();
  t.after(() => Promise.all(svcs.map((s) => s.close())));
  const address = svcs.map((s) => s.address);
  const ids = new Set(svcs.map((s) => s.id));
  const rr = await seen(new micro.Client({ registry: 'memory', selector: 'roundrobin' }), address, 10);
  assert.deepEqual(new Set(rr), ids);
  assert.ok(alternates(rr), `round-robin answers do not alternate: ${rr}`);
  const rnd = await seen(new micro.Client({ registry: 'memory', selector: 'random' }), address, 100);
  assert.deepEqual(new Set(rnd), ids);
});

test('a bad selector is a clear MicroError', () => {
  assert.throws(() => new micro.Client({ registry: 'memory', selector: 'fastest' }),
    (e) => e instanceof micro.MicroError && e.code === 400 && e.detail === 'selector must be "random" or "roundrobin", got "fastest"');
  assert.throws(() => new micro.Client({ registry: 'memory', selector: 1 }),
    (e) => e instanceof micro.MicroError && e.code === 400 && e.detail === "selector must be 'random' or 'roundrobin', got number");
});

/** In a child with MICRO_SELECTOR=env: the ids answering `calls` calls made with `opts`,
 * or the error making the client. */
async function child(opts, calls, env) {
  // The child runs this file's own helpers (their source, with its own `micro`).
  const r = await runNode(`const micro = require('.');
${twoServices.toString()}
${seen.toString()}
(async () => {
  let c;
  try { c = new micro.Client(${JSON.stringify({ registry: 'memory', ...opts })}); } // first: a bad MICRO_SELECTOR fails services too
  catch (e) { return { error: { code: e.code, detail: e.detail } }; }
  const svcs = await twoServices();
  try {
    return { ids: svcs.map((s) => s.id), seen: await seen(c, svcs.map((s) => s.address), ${calls}) };
  } finally { await Promise.all(svcs.map((s) => s.close())); }
})().then((out) => console.log(JSON.stringify(out)), (e) => console.log(JSON.stringify({ error: String(e) })));`,
  { env: { MICRO_SELECTOR: env }, timeout: 20000 });
  assert.equal(r.killed, false, `child hung: ${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

test('the selector option wins over MICRO_SELECTOR', async () => {
  let got = await child({ selector: 'roundrobin' }, 10, 'random');
  assert.ok(alternates(got.seen), JSON.stringify(got));
  got = await child({}, 10, 'roundrobin'); // no option: the variable decides
  assert.ok(alternates(got.seen), JSON.stringify(got));
  // random over roundrobin: 40 strictly alternating random picks would be a 1 in 2^39 chance
  got = await child({ selector: 'random' }, 40, 'roundrobin');
  assert.deepEqual(new Set(got.seen), new Set(got.ids));
  assert.ok(!alternates(got.seen), JSON.stringify(got));
  got = await child({ selector: 'roundrobin' }, 0, 'fastest'); // a bad variable is an error naming it
  assert.equal(got.error.code, 400);
  assert.match(got.error.detail, /MICRO_SELECTOR/);
});
