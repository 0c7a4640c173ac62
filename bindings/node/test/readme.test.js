'use strict';
// docs/node.md's Node snippets run as written: every ```js block whose fence says `run=FILE`
// is written to FILE in a fresh folder (with node_modules/micro linked to this package) and
// run. errors.js stands alone (memory registry); server.js and client.js run against each
// other over mDNS inside scripts/netns.sh, so the README cannot drift from the package.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const micro = require('..');
const { ROOT } = require('./helpers');

function snippets() {
  const found = {};
  for (const m of fs.readFileSync(path.join(ROOT, 'docs', 'node.md'), 'utf8').matchAll(/^```js run=(\S+)\n([\s\S]*?)^```$/gm)) found[m[1]] = m[2];
  for (const f of ['server.js', 'client.js', 'errors.js']) assert.ok(found[f], `README has a run=${f} block`);
  return found;
}

function folder(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'micro-readme-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(path.resolve(__dirname, '..'), path.join(dir, 'node_modules', 'micro'));
  for (const [name, code] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), code);
  return dir;
}

function env() {
  const e = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MICRO_') || k === 'MICRO_NETNS') e[k] = v;
  return e;
}

/** Runs `node file` in `dir`; resolves {code, stdout, stderr}. */
function node(dir, file) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [file], { cwd: dir, env: env() });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test("the README's errors.js runs", async () => {
  const dir = folder({ 'errors.js': snippets()['errors.js'] });
  const r = await node(dir, 'errors.js');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.split('\n').slice(0, 2), ['400 qty is required', '502 downstream call failed: {"id":"go.micro.']);
});

test("the README's wrappers.js runs", async () => {
  const dir = folder({ 'wrappers.js': snippets()['wrappers.js'] });
  const r = await node(dir, 'wrappers.js');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.split('\n').slice(0, 2), ["{ message: 'Hello Ann', user: 'u1' }", '403 not Bob']);
});

test("the README's server.js and client.js run against each other", { skip: process.env.MICRO_NETNS !== '1' && 'needs mDNS: scripts/netns.sh' }, async () => {
  const code = snippets();
  const dir = folder({ 'server.js': code['server.js'], 'client.js': code['client.js'] });
  const server = spawn(process.execPath, ['server.js'], { cwd: dir, env: env(), stdio: ['ignore', 'inherit', 'pipe'] });
  let serverErr = '';
  server.stderr.on('data', (d) => { serverErr += d; });
  const exited = new Promise((resolve) => server.on('close', (c) => resolve(c)));
  try {
    const reg = new micro.Registry('mdns');
    let up = false;
    for (let i = 0; i < 200 && !up; i++) {
      up = (await reg.getService('greeter')).some((s) => (s.nodes || []).length > 0);
      if (!up) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(up, `the README's server.js never registered greeter: ${serverErr}`);
    const r = await node(dir, 'client.js');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "{ message: 'Hello John' }\n{ message: 'Hello Ann' }\n");
  } finally {
    server.kill('SIGTERM');
    assert.equal(await exited, 0, serverErr);
  }
});
