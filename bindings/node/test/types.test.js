'use strict';
// index.d.ts matches the code, read with the TypeScript compiler's own parser: every class
// of the package (MicroError, Service, Client, ClientStream, ServerStream, Registry, Reply)
// and of the native module declares exactly the public members the real objects have
// (prototype methods and accessors, instance fields, [Symbol.asyncIterator]); the objects a
// handler and a subscriber receive have the declared interface's keys; the exports and the
// native functions are the declared ones. `tsc` itself type-checks test/types-check.ts in
// scripts/test.d/50-node.sh.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');
const micro = require('..');

const DTS = path.join(__dirname, '..', 'index.d.ts');
const source = ts.createSourceFile(DTS, fs.readFileSync(DTS, 'utf8'), ts.ScriptTarget.Latest, true);

function memberName(m) {
  if (!m.name) return null;
  if (ts.isComputedPropertyName(m.name)) return `[${m.name.expression.getText(source)}]`;
  return m.name.getText(source);
}

/** The members of a class or interface declaration: name -> {optional}. */
function members(decl) {
  const out = new Map();
  for (const m of decl.members) {
    if (ts.isConstructorDeclaration(m)) continue;
    const n = memberName(m);
    if (m.modifiers && m.modifiers.some((x) => x.kind === ts.SyntaxKind.StaticKeyword)) {
      out.statics = (out.statics || []).concat([n]);
      continue;
    }
    if (n) out.set(n, { optional: Boolean(m.questionToken) });
  }
  return out;
}

/** Top-level declarations (classes, interfaces, functions) and the native namespace's. */
function declarations() {
  const top = { classes: new Map(), interfaces: new Map(), functions: new Set(), defaultExport: [] };
  const nat = { classes: new Map(), functions: new Set() };
  for (const st of source.statements) {
    if (ts.isClassDeclaration(st)) top.classes.set(st.name.text, members(st));
    else if (ts.isInterfaceDeclaration(st)) top.interfaces.set(st.name.text, members(st));
    else if (ts.isFunctionDeclaration(st)) top.functions.add(st.name.text);
    else if (ts.isModuleDeclaration(st) && st.name.text === 'native') {
      for (const n of st.body.statements) {
        if (ts.isClassDeclaration(n)) nat.classes.set(n.name.text, members(n));
        else if (ts.isFunctionDeclaration(n)) nat.functions.add(n.name.text);
      }
    } else if (ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) {
        if (d.name.getText(source) === 'micro' && d.type && ts.isTypeLiteralNode(d.type)) {
          top.defaultExport = d.type.members.map((m) => memberName(m));
        }
      }
    }
  }
  return { top, nat };
}

const { top, nat } = declarations();
const ERROR_OWN = new Set(['name', 'message', 'stack', 'cause']); // declared by `extends Error`

/** Public members of a live object: its own fields and its prototype chain's methods/accessors. */
function publicMembers(obj, stopAt = Object.prototype) {
  const names = new Set();
  const add = (o) => {
    for (const k of Object.getOwnPropertyNames(o)) if (k !== 'constructor' && !k.startsWith('_')) names.add(k);
    for (const s of Object.getOwnPropertySymbols(o)) names.add(`[${String(s.description)}]`);
  };
  add(obj);
  for (let p = Object.getPrototypeOf(obj); p && p !== stopAt; p = Object.getPrototypeOf(p)) add(p);
  return names;
}

function sameMembers(name, declared, actual) {
  assert.deepEqual([...actual].sort(), [...declared.keys()].sort(), `${name}: members of the object vs index.d.ts`);
}

/** Real instances of every class, from a live service on loopback. */
async function liveObjects() {
  const svc = new micro.Service({ name: 'types.live', registry: 'memory', broker: 'memory', address: '127.0.0.1:0' });
  const seen = {};
  svc.handle('T.Call', (body, req) => { seen.request = req; return { ok: true }; });
  svc.handle('T.Stream', async (s, req) => {
    seen.serverStream = s;
    seen.streamRequest = req;
    for await (const m of s) await s.send(m);
  }, { stream: true });
  let delivered;
  const got = new Promise((r) => { delivered = r; });
  svc.subscribe('types.t', (body, msg) => { seen.message = msg; delivered(); });
  await svc.start();
  try {
    const c = new micro.Client({ registry: 'memory' });
    const reply = await c.callRaw('types.live', 'T.Call', {}, { address: svc.address });
    const stream = await c.stream('types.live', 'T.Stream', { address: svc.address });
    await stream.send({ x: 1 });
    await stream.recv();
    await svc.client().publish('types.t', { y: 1 });
    await got;
    await stream.close();
    const [registered] = await svc.registry().getService('types.live');
    return {
      classes: {
        MicroError: new micro.MicroError('id', 500, 'x'),
        Service: svc,
        Client: c,
        ClientStream: stream,
        ServerStream: seen.serverStream,
        Registry: new micro.Registry('memory'),
        Reply: reply,
      },
      registered,
      request: seen.request,
      streamRequest: seen.streamRequest,
      message: seen.message,
    };
  } finally {
    await svc.close();
  }
}

test('every class in index.d.ts has exactly the public members of the real objects', async () => {
  const live = await liveObjects();
  assert.deepEqual([...top.classes.keys()].sort(), Object.keys(live.classes).sort(), 'declared classes');
  for (const [name, obj] of Object.entries(live.classes)) {
    assert.ok(obj instanceof micro[name], `${name} instance`);
    const stop = name === 'MicroError' ? Error.prototype : Object.prototype;
    const actual = publicMembers(obj, stop);
    if (name === 'MicroError') for (const k of ERROR_OWN) actual.delete(k);
    sameMembers(name, top.classes.get(name), actual);
    for (const st of top.classes.get(name).statics || []) assert.equal(typeof micro[name][st], 'function', `static ${name}.${st}`);
  }
});

test('handler and subscriber arguments and registry results have the declared interface keys', async () => {
  const live = await liveObjects();
  const cases = [['RequestInfo', live.request], ['RequestInfo', live.streamRequest], ['Message', live.message],
    ['RegistryService', live.registered], ['RegistryNode', live.registered.nodes[0]]];
  for (const [iface, obj] of cases) {
    const declared = top.interfaces.get(iface);
    const keys = new Set(Object.keys(obj));
    for (const k of keys) assert.ok(declared.has(k), `${iface}: ${k} is not declared`);
    for (const [k, { optional }] of declared) if (!optional) assert.ok(keys.has(k), `${iface}: declared ${k} is missing`);
  }
  assert.ok(Buffer.isBuffer(live.request.raw) && !('raw' in live.streamRequest), 'raw: unary calls only');
});

test('native classes, members and functions match index.d.ts', () => {
  const runtime = Object.keys(micro.native).filter((k) => typeof micro.native[k] === 'function' && /^Native/.test(k));
  assert.deepEqual([...nat.classes.keys()].sort(), runtime.sort());
  for (const [name, declared] of nat.classes) {
    const proto = micro.native[name].prototype;
    const actual = Object.getOwnPropertyNames(proto).filter((k) => k !== 'constructor');
    assert.deepEqual(actual.sort(), [...declared.keys()].sort(), name);
  }
  const fns = Object.keys(micro.native).filter((k) => typeof micro.native[k] === 'function' && !/^Native/.test(k));
  assert.deepEqual(fns.sort(), [...nat.functions].sort(), 'native functions');
});

test('JS exports match the declared default export and named functions', () => {
  assert.deepEqual([...top.defaultExport].sort(), Object.keys(micro).filter((k) => k !== 'default').sort());
  for (const f of top.functions) assert.equal(typeof micro[f], 'function', f);
});
