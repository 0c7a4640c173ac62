'use strict';
// Options by go-micro's environment names: each case runs a child `node` whose environment
// sets MICRO_* variables and no option object says otherwise.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { runNode } = require('./helpers');

/** A loopback port nothing listens on (bound, then released). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Runs `body` (an async function body with `micro` in scope) in a child; its JSON output. */
async function child(body, env, timeout = 20000) {
  const r = await runNode(`const micro = require('.');
(async () => { ${body} })().then((out) => { console.log(JSON.stringify(out)); },
  (e) => { console.log(JSON.stringify({ error: { code: e.code, detail: e.detail || String(e) } })); });`,
  { env, timeout });
  assert.equal(r.killed, false, `child hung: ${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

test('service name, address, id, version, metadata and registry from MICRO_SERVER_* / MICRO_REGISTRY', async () => {
  const port = await freePort();
  const out = await child(`
    const svc = new micro.Service({});
    svc.handle('Env.Hello', (req) => ({ message: 'Hello ' + req.name }));
    await svc.start();
    try {
      const reply = await svc.client().call(svc.name, 'Env.Hello', { name: 'env' });
      return { name: svc.name, id: svc.id, address: svc.address, reply,
               services: await svc.registry().getService(svc.name), names: (await svc.registry().listServices()).map((s) => s.name) };
    } finally { await svc.close(); }`, {
    MICRO_SERVER_NAME: 'env.node',
    MICRO_SERVER_ADDRESS: `127.0.0.1:${port}`,
    MICRO_SERVER_ID: 'env.node-fixed-id',
    MICRO_SERVER_VERSION: '3.1.4',
    MICRO_SERVER_METADATA: 'team=node, zone=b',
    MICRO_REGISTRY: 'memory',
    MICRO_BROKER: 'memory',
  });
  assert.equal(out.error, undefined, JSON.stringify(out.error));
  assert.equal(out.name, 'env.node');
  assert.equal(out.id, 'env.node-fixed-id');
  assert.equal(out.address, `127.0.0.1:${port}`);
  assert.deepEqual(out.reply, { message: 'Hello env' }); // found through the memory registry
  assert.deepEqual(out.names, ['env.node']);
  assert.equal(out.services.length, 1);
  const [svc] = out.services;
  assert.equal(svc.version, '3.1.4');
  assert.deepEqual(svc.nodes.map((n) => [n.id, n.address]), [['env.node-fixed-id', `127.0.0.1:${port}`]]);
  const md = svc.nodes[0].metadata;
  assert.equal(md.team, 'node');
  assert.equal(md.zone, 'b');
  assert.equal(md.registry, 'memory'); // the plugin MICRO_REGISTRY chose
  assert.equal(md.broker, 'memory');
  assert.deepEqual(svc.endpoints.map((e) => e.name), ['Env.Hello']);
});

test('an option object wins over the environment', async () => {
  const port = await freePort();
  const out = await child(`
    const svc = new micro.Service({ name: 'env.opts', version: '9.9.9', address: '127.0.0.1:${port}', registry: 'memory' });
    await svc.start();
    try { return { address: svc.address, services: await svc.registry().getService('env.opts') }; }
    finally { await svc.close(); }`, {
    MICRO_SERVER_VERSION: '1.0.0', MICRO_SERVER_ADDRESS: '127.0.0.1:1', MICRO_REGISTRY: 'zookeeper', MICRO_BROKER: 'memory',
  });
  assert.equal(out.error, undefined, JSON.stringify(out.error));
  assert.equal(out.address, `127.0.0.1:${port}`);
  assert.equal(out.services[0].version, '9.9.9');
});

test('MICRO_CLIENT_REQUEST_TIMEOUT bounds a call', async () => {
  const out = await child(`
    const svc = new micro.Service({ name: 'env.slow', registry: 'memory', broker: 'memory', address: '127.0.0.1:0' });
    svc.handle('Slow.Sleep', () => new Promise((r) => setTimeout(() => r({}), 2500)));
    await svc.start();
    const c = new micro.Client({ registry: 'memory' });
    const t0 = Date.now();
    try { await c.call('env.slow', 'Slow.Sleep', {}, { address: svc.address }); return { ok: true }; }
    catch (e) { return { code: e.code, ms: Date.now() - t0 }; }
    finally { await svc.close(); }`, { MICRO_CLIENT_REQUEST_TIMEOUT: '400ms' });
  assert.equal(out.code, 408, JSON.stringify(out));
  assert.ok(out.ms >= 300 && out.ms < 2000, `took ${out.ms} ms`); // not the handler's 2.5 s
});

test('MICRO_CLIENT_RETRIES: 0 lets refused nodes fail calls, 2 moves them to a live node', async () => {
  const dead = await freePort();
  const body = `
    const svc = new micro.Service({ name: 'env.retry', registry: 'memory', broker: 'memory', address: '127.0.0.1:0' });
    svc.handle('R.Hello', () => ({ ok: true }));
    await svc.start();
    const c = new micro.Client({ registry: 'memory' });
    let failed = 0;
    for (let i = 0; i < 30; i++) {  // each call picks one of the two addresses at random
      try { await c.call('env.retry', 'R.Hello', {}, { address: ['127.0.0.1:${dead}', svc.address] }); }
      catch (e) { failed++; }
    }
    await svc.close();
    return { failed };`;
  const none = await child(body, { MICRO_CLIENT_RETRIES: '0' });
  assert.ok(none.failed > 0, `with no retries some of 30 calls must hit the refused node: ${JSON.stringify(none)}`);
  const two = await child(body, { MICRO_CLIENT_RETRIES: '2' });
  assert.equal(two.failed, 0, JSON.stringify(two));
});

test('bad MICRO_* values are clear errors naming the variable', async () => {
  const retries = await child(`new micro.Client({ registry: 'memory' }); return { ok: true };`, { MICRO_CLIENT_RETRIES: 'lots' });
  assert.equal(retries.error.code, 400);
  assert.match(retries.error.detail, /MICRO_CLIENT_RETRIES/);
  const timeout = await child(`new micro.Service({ name: 'x', registry: 'memory' }); return { ok: true };`,
    { MICRO_REGISTER_TTL: 'forever' });
  assert.match(timeout.error.detail, /MICRO_REGISTER_TTL/);
  const reg = await child(`new micro.Service({ name: 'x' }); return { ok: true };`, { MICRO_REGISTRY: 'zookeeper' });
  assert.match(reg.error.detail, /unknown registry/);
});
