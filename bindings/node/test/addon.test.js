'use strict';
// MICRO_NODE_ADDON names another build of the native module: a path relative to the
// working directory loads that file (not a package of that name from node_modules), and a
// file that is not there fails at require with an error naming the variable and the path.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const PKG = path.join(__dirname, '..');
const BUILT = path.join(PKG, 'micro.node');

function node(cwd, addon, code) {
  return spawnSync(process.execPath, ['-e', code], {
    cwd,
    env: { ...process.env, MICRO_NODE_ADDON: addon },
    encoding: 'utf8',
  });
}

test('a relative MICRO_NODE_ADDON loads the file it names, from the working directory', { skip: !fs.existsSync(BUILT) && 'no micro.node built' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'micro-addon-'));
  try {
    fs.mkdirSync(path.join(dir, 'build'));
    fs.copyFileSync(BUILT, path.join(dir, 'build', 'micro.node'));
    // The copy is the one loaded: its path is the one the module was opened from.
    const r = node(dir, 'build/micro.node',
      `const m = require(${JSON.stringify(PKG)}); new m.Client({ registry: 'memory' }).close();` +
      `const f = require('node:fs').readFileSync('/proc/self/maps', 'utf8');` +
      `process.stdout.write(String(f.includes(${JSON.stringify(path.join(fs.realpathSync(dir), 'build', 'micro.node'))})));`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'true');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a MICRO_NODE_ADDON that is not there is an error naming it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'micro-addon-'));
  try {
    const r = node(dir, 'nowhere/micro.node', `require(${JSON.stringify(PKG)})`);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /MICRO_NODE_ADDON=nowhere\/micro\.node: cannot load the native module /);
    assert.ok(r.stderr.includes(path.join(dir, 'nowhere', 'micro.node')), r.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
