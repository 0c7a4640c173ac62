'use strict';
// Bodies follow core's one table (micro::host::body, tests/hosts/body_kinds.json shared with
// the Python suite): the kind of every content type there, through `decode`; the kind is
// asked of the native module once per content type; a JSON body that does not parse is a
// 400 on the request side (handler, stream message, event) and a 500 on the reply side
// (client), as is a text body that is not UTF-8; text/* decodes to a string (events over the wire); and
// the deprecated `request()` still works and warns once.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const micro = require('..');
const body = require('../lib/body');
const { ROOT } = require('./helpers');

const TABLE = JSON.parse(fs.readFileSync(path.join(ROOT, 'tests', 'hosts', 'body_kinds.json'), 'utf8'));

test('every content type decodes as core\'s table says', () => {
  const raw = Buffer.from(TABLE.body);
  for (const [ct, kind] of TABLE.kinds) {
    assert.equal(micro.native.bodyKind(ct), kind, `native bodyKind(${JSON.stringify(ct)})`);
    assert.equal(body.kind(ct), kind, `kind(${JSON.stringify(ct)})`);
    for (const side of ['request', 'reply']) {
      const v = micro.decode(raw, ct, side);
      if (kind === 'json') assert.deepEqual(v, JSON.parse(TABLE.body), ct);
      else if (kind === 'text') assert.equal(v, TABLE.body, ct);
      else assert.ok(Buffer.isBuffer(v) && v.equals(raw), ct);
    }
  }
});

test('the kind is asked of the native module once per content type, in a bounded memo', () => {
  const real = micro.native.bodyKind;
  let asked = 0;
  micro.native.bodyKind = (ct) => { asked += 1; return real(ct); };
  try {
    for (let i = 0; i < 3; i++) assert.equal(body.kind('application/x-memo+json'), 'json');
    assert.equal(asked, 1);
    for (let i = 0; i < 1000; i++) body.kind(`application/x-${i}`);
    assert.equal(asked, 1001);
    assert.equal(body.kind('application/x-999'), 'bytes');
    assert.equal(asked, 1001);
  } finally {
    micro.native.bodyKind = real;
  }
});

test('a body that does not decode: 400 on the request side, 500 on the reply side', () => {
  const cases = [
    [Buffer.from('{"a":'), 'application/json', 'not valid JSON'],
    [Buffer.from('{oops'), 'application/problem+json', 'not valid JSON'],
    [Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]), 'application/json', 'not valid JSON'],
    [Buffer.from([0x68, 0xff, 0x69]), 'text/plain', 'not valid UTF-8'],
  ];
  for (const [raw, ct, what] of cases) {
    for (const [side, code] of [['request', 400], ['reply', 500]]) {
      assert.throws(() => micro.decode(raw, ct, side), (e) => {
        assert.ok(e instanceof micro.MicroError, String(e));
        assert.equal(e.code, code);
        assert.equal(e.id, 'micro.node');
        assert.ok(e.detail.startsWith(`${side} body is ${what} (${ct})`), e.detail);
        return true;
      });
    }
  }
  assert.throws(() => micro.decode(Buffer.from('{}'), 'application/json', 'sideways'), { code: 400 });
});

test('over the wire: the split by side, text as strings, and request() as a deprecated callRaw', async (t) => {
  const svc = new micro.Service({ name: 'node.bodies', registry: 'memory', broker: 'memory', address: '127.0.0.1:0' });
  let streamErr = null;
  svc.handle('Body.Echo', (b, req) => ({ got: b, contentType: req.contentType }));
  const events = [];
  svc.subscribe('node.bodies.text', (m) => { events.push(`${typeof m}:${m}`); });
  svc.handle('Body.BadReply', () => Buffer.from('{oops'));
  // Replies with exactly the bytes asked for: hex in a JSON request, else the request's own.
  svc.handle('Body.Bytes', (b) => (Buffer.isBuffer(b) ? b : typeof b === 'string' ? Buffer.from(b) : Buffer.from(b.hex, 'hex')));
  svc.handle('Body.Stream', async (stream) => {
    try {
      await stream.recv();
    } catch (e) {
      streamErr = e;
    }
  }, { stream: true });
  await svc.start();
  t.after(() => svc.close());
  const c = new micro.Client({ registry: 'memory' });
  const address = svc.address;

  await t.test('a JSON request that does not parse is a 400 from the service', async () => {
    await assert.rejects(c.call('node.bodies', 'Body.Echo', Buffer.from('{"a":'), { address, contentType: 'application/json' }),
      (e) => e.code === 400 && e.id === 'micro.node' && e.detail.startsWith('request body is not valid JSON (application/json)'));
  });

  await t.test('+json requests are JSON; application/jsonx is not', async () => {
    assert.deepEqual(await c.call('node.bodies', 'Body.Echo', { a: 1 }, { address, contentType: 'application/grpc+json' }),
      { got: { a: 1 }, contentType: 'application/grpc+json' });
    await assert.rejects(c.call('node.bodies', 'Body.Echo', { a: 1 }, { address, contentType: 'application/jsonx' }),
      (e) => e.code === 400 && /needs a JSON content type/.test(e.detail));
  });

  await t.test('text/* events arrive as strings; one that is not UTF-8 is a 400', async () => {
    await svc.client().publish('node.bodies.text', Buffer.from('héllo'), { contentType: 'text/plain; charset=utf-8' });
    for (let i = 0; i < 500 && events.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(events, ['string:héllo']);
    await assert.rejects(svc.client().publish('node.bodies.text', Buffer.from([0xff]), { contentType: 'text/plain' }),
      (e) => e.code === 400 && e.detail.startsWith('request body is not valid UTF-8 (text/plain)'));
    await assert.rejects(svc.client().publish('node.bodies.text', Buffer.from('{"a":'), { contentType: 'application/json' }),
      (e) => e.code === 400 && e.detail.startsWith('request body is not valid JSON (application/json)'));
    assert.equal(events.length, 1);
  });

  await t.test('a JSON reply that does not parse is a 500 for the client', async () => {
    await assert.rejects(c.call('node.bodies', 'Body.BadReply', {}, { address }),
      (e) => e.code === 500 && e.detail.startsWith('reply body is not valid JSON (application/json)'));
    const r = await c.callRaw('node.bodies', 'Body.BadReply', {}, { address });
    assert.equal(r.raw.toString(), '{oops');
    assert.throws(() => r.body, { code: 500 });
  });

  await t.test('call() decodes every kind of reply as callRaw().body does', async () => {
    // call() takes a JSON reply as text from the native side; callRaw() builds the whole
    // Reply. Both must give the same value, or the same error, for every reply.
    const outcome = (p) => p.then((value) => ({ value }), (e) => ({ error: { id: e.id, code: e.code, detail: e.detail } }));
    const hex = (x) => ({ hex: Buffer.from(x).toString('hex') });
    const cases = [
      [hex('{"a":1}'), undefined, { value: { a: 1 } }],
      [hex('{"a":1}\n'), undefined, { value: { a: 1 } }],
      [hex(''), undefined, { value: null }],
      [hex('"héllo ☃"'), undefined, { value: 'héllo ☃' }],
      [hex('{"a":1}'), 'application/grpc+json', { value: { a: 1 } }],
      [hex('{oops'), undefined, { code: 500, detail: 'reply body is not valid JSON (application/json)' }],
      [hex('\n'), undefined, { code: 500, detail: 'reply body is not valid JSON (application/json)' }],
      [hex([0x7b, 0xff, 0x7d]), undefined, { code: 500, detail: 'reply body is not valid JSON (application/json)' }],
      [Buffer.from('h\u00e9llo'), 'text/plain', { code: 400, detail: 'unsupported Content-Type: text/plain' }],
      [Buffer.from([1, 2, 3]), 'application/octet-stream', { value: Buffer.from([1, 2, 3]) }],
    ];
    for (const [body, contentType, want] of cases) {
      const opts = { address, contentType };
      const viaCall = await outcome(c.call('node.bodies', 'Body.Bytes', body, opts));
      const viaRaw = await outcome(c.callRaw('node.bodies', 'Body.Bytes', body, opts).then((r) => r.body));
      const what = JSON.stringify([body, contentType]);
      assert.deepEqual(viaCall, viaRaw, what);
      if ('value' in want) {
        assert.deepEqual(viaCall, { value: want.value }, what);
      } else {
        assert.equal(viaCall.error.code, want.code, what);
        assert.ok(viaCall.error.detail.startsWith(want.detail), `${what}: ${viaCall.error.detail}`);
      }
    }
  });

  await t.test("call() passes every option on: metadata, timeout (go-micro's Timeout header, in ns), retries, addresses", async () => {
    const svc2 = new micro.Service({ name: 'node.bodies.opts', registry: 'memory', broker: 'memory', address: '127.0.0.1:0' });
    svc2.handle('O.Head', (_b, req) => ({ trace: req.header['X-Trace'] || null, timeout: req.header.Timeout || null }));
    await svc2.start();
    try {
      const a = svc2.address;
      assert.deepEqual(await c.call('node.bodies.opts', 'O.Head', {}, { address: a, metadata: { 'X-Trace': 't1' }, timeout: 1500, retries: 0 }),
        { trace: 't1', timeout: '1500000000' });
      // A whole call's budget goes as the time left of it.
      const r = await c.call('node.bodies.opts', 'O.Head', {}, { address: [a], requestTimeout: 5000 });
      assert.equal(r.trace, null);
      assert.ok(Number(r.timeout) > 0 && Number(r.timeout) <= 5e9, r.timeout);
    } finally {
      await svc2.close();
    }
  });

  await t.test('a stream message that does not parse is a 400 in the handler', async () => {
    const s = await c.stream('node.bodies', 'Body.Stream', { address, contentType: 'application/json' });
    await s.send(Buffer.from('{"a":'));
    await s.close();
    for (let i = 0; i < 500 && streamErr === null; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(streamErr instanceof micro.MicroError, String(streamErr));
    assert.equal(streamErr.code, 400);
  });

  await t.test('request() is callRaw, with one DeprecationWarning per process', async () => {
    const seen = [];
    const onWarning = (w) => { if (w.name === 'DeprecationWarning') seen.push(w); };
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 2; i++) {
        const r = await c.request('node.bodies', 'Body.Echo', { n: i }, { address });
        assert.ok(r instanceof micro.Reply);
        assert.deepEqual(r.body, { got: { n: i }, contentType: 'application/json' });
      }
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    assert.equal(seen.length, 1);
    assert.match(seen[0].message, /request\(\) is deprecated; use callRaw\(\)/);
    assert.equal(seen[0].code, 'MICRO_REQUEST');
  });
});

test('a body that cannot be written as JSON is a 400 naming why, whatever its toJSON threw', () => {
  const cases = [
    [{ toJSON() { throw new RangeError('no'); } }, 'body cannot be encoded as JSON: no'],
    [{ toJSON() { throw { toString() { throw new Error('x'); } }; } }, 'body cannot be encoded as JSON: object (its message cannot be read: Error)'],
    [{ n: 1n }, 'body cannot be encoded as JSON: Do not know how to serialize a BigInt'],
    [Symbol('s'), 'a symbol cannot be encoded as JSON'],
  ];
  for (const [value, detail] of cases) {
    assert.throws(() => body.jsonText(value), (e) => {
      assert.ok(e instanceof micro.MicroError);
      assert.deepEqual([e.code, e.detail], [400, detail]);
      return true;
    });
  }
});
