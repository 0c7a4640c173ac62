'use strict';
// index.d.ts matches the code: every class and member declared for the native module
// exists on it (and nothing undeclared does), and the JS exports are the declared ones.
// `tsc` itself runs on test/types-check.ts in scripts/test.d/50-node.sh.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const micro = require('..');

const dts = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8');

function declaredNative() {
  const block = dts.slice(dts.indexOf('export declare namespace native {'));
  const classes = {};
  const re = /\n {2}class (\w+) \{([\s\S]*?)\n {2}\}/g;
  let m;
  while ((m = re.exec(block))) {
    const members = new Set();
    for (const line of m[2].split('\n')) {
      const mm = /^\s+(?:readonly )?(\w+)[(:?]/.exec(line);
      if (mm && mm[1] !== 'constructor') members.add(mm[1]);
    }
    classes[m[1]] = members;
  }
  return classes;
}

test('native classes and members match index.d.ts', () => {
  const declared = declaredNative();
  const runtime = Object.keys(micro.native).filter((k) => typeof micro.native[k] === 'function' && /^Native/.test(k));
  assert.deepEqual(Object.keys(declared).sort(), runtime.sort());
  for (const [name, members] of Object.entries(declared)) {
    const proto = micro.native[name].prototype;
    const actual = Object.getOwnPropertyNames(proto).filter((k) => k !== 'constructor');
    assert.deepEqual([...members].sort(), actual.sort(), name);
  }
  assert.match(dts, /function version\(\): string;/);
  assert.equal(typeof micro.native.version, 'function');
});

test('JS exports match the declared default export', () => {
  const block = dts.slice(dts.indexOf('declare const micro: {'));
  const names = [...block.matchAll(/\n {2}(\w+):/g)].map((m) => m[1]);
  assert.deepEqual(names.sort(), Object.keys(micro).filter((k) => k !== 'default').sort());
});
