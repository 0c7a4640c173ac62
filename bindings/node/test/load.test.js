'use strict';
// Load: 10,000 calls with 100 in flight complete with no errors, twice; resident memory
// after the second round is within 10% of after the first (a child process with
// --expose-gc, memory registry, explicit address).
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');

const CHILD = `
const micro = require('.');
const CALLS = 10000, IN_FLIGHT = 100;
(async () => {
  const svc = new micro.Service({ name: 'load', registry: 'memory', broker: 'memory', address: '127.0.0.1:0' });
  svc.handle('Greeter.Hello', (req) => ({ message: 'Hello ' + req.name }));
  await svc.start();
  const c = new micro.Client({ registry: 'memory' });
  const address = svc.address;
  async function round() {
    let next = 0, errors = 0, wrong = 0;
    const t0 = process.hrtime.bigint();
    async function worker() {
      while (next < CALLS) {
        const i = next++;
        try {
          const r = await c.call('load', 'Greeter.Hello', { name: 'n' + i }, { address });
          if (r.message !== 'Hello n' + i) wrong++;
        } catch (e) { errors++; if (errors < 5) console.error(String(e)); }
      }
    }
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    for (let i = 0; i < 3; i++) { global.gc(); await new Promise((r) => setTimeout(r, 50)); }
    return { errors, wrong, secs, rps: Math.round(CALLS / secs), rss: process.memoryUsage().rss };
  }
  const first = await round();
  const second = await round();
  await svc.close();
  console.log(JSON.stringify({ first, second }));
})();`;

test('10,000 calls, 100 in flight, twice: no errors, memory stable', { timeout: 180000 }, async () => {
  const out = await new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--expose-gc', '-e', CHILD], { cwd: path.resolve(__dirname, '..') });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`exit ${code}: ${stderr}`))));
  });
  const { first, second } = JSON.parse(out.trim().split('\n').pop());
  console.log(`load: round 1 ${first.rps} calls/s rss ${(first.rss / 1048576).toFixed(1)} MiB; round 2 ${second.rps} calls/s rss ${(second.rss / 1048576).toFixed(1)} MiB`);
  assert.equal(first.errors + first.wrong, 0);
  assert.equal(second.errors + second.wrong, 0);
  const growth = (second.rss - first.rss) / first.rss;
  assert.ok(growth <= 0.10, `rss grew ${(growth * 100).toFixed(1)}% (${first.rss} -> ${second.rss})`);
});
