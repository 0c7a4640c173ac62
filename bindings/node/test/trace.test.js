'use strict';
// Trace context (go-micro's `Traceparent` metadata, W3C Trace Context) through a Node
// service: a handler's calls carry its request's trace on with nothing passed by hand, and
// with tracing on (OTEL_EXPORTER_OTLP_ENDPOINT) the service's spans go to an OTLP/HTTP
// endpoint. The full chain (go-micro → Python → Node → Rust, spans decoded) is
// tests/interop/trace.sh.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const micro = require('..');

const REMOTE = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

/** `front` (its handler calls `back` by address) and `back` (returns the Traceparent it got). */
function pair(prefix) {
  const opts = (name) => ({ name, registry: 'memory', broker: 'memory', address: '127.0.0.1:0' });
  const back = new micro.Service(opts(`${prefix}.back`));
  back.handle('Back.Seen', async (req, ctx) => ({ traceparent: ctx.header.Traceparent || null }));
  const front = new micro.Service(opts(`${prefix}.front`));
  front.handle('Front.Hop', async (req, ctx) => {
    // After an await, on purpose: the context must survive it.
    await new Promise((resolve) => setImmediate(resolve));
    const got = await front.client().call(`${prefix}.back`, 'Back.Seen', {}, { address: back.address });
    return { mine: ctx.header.Traceparent || null, back: got.traceparent };
  });
  return { front, back };
}

function parse(tp) {
  const [version, trace, span, flags] = tp.split('-');
  assert.equal(version, '00');
  assert.equal(trace.length, 32);
  assert.equal(span.length, 16);
  return { trace, span, flags };
}

test("a handler's calls carry its trace on", async (t) => {
  const { front, back } = pair('node.trace.off');
  await back.start();
  await front.start();
  t.after(async () => { await front.close(); await back.close(); });
  const c = back.client();
  const got = await c.call('node.trace.off.front', 'Front.Hop', {}, { address: front.address, metadata: { traceparent: REMOTE } });
  // Tracing off here: the context passes through unchanged, so the trace goes on.
  assert.deepEqual(got, { mine: REMOTE, back: REMOTE });
  // A call made outside any handler carries none.
  assert.deepEqual(await c.call('node.trace.off.back', 'Back.Seen', {}, { address: back.address }), { traceparent: null });
});

test('with tracing on, each hop is a span of the same trace, exported over OTLP/HTTP', async () => {
  const posts = [];
  const receiver = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      posts.push({ path: req.url, type: req.headers['content-type'], body: Buffer.concat(chunks) });
      res.end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${receiver.address().port}`;
  const { front, back } = pair('node.trace.on');
  delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT; // read when each service was made
  await back.start();
  await front.start();
  let got;
  try {
    got = await back.client().call('node.trace.on.front', 'Front.Hop', {}, { address: front.address, metadata: { Traceparent: REMOTE } });
  } finally {
    await front.close(); // flushes its spans
    await back.close();
    receiver.close();
  }
  const remote = parse(REMOTE);
  const mine = parse(got.mine);
  const seen = parse(got.back);
  assert.equal(mine.trace, remote.trace);
  assert.equal(seen.trace, remote.trace);
  assert.equal(new Set([remote.span, mine.span, seen.span]).size, 3, 'a new span at each hop');
  assert.deepEqual(new Set(posts.map((p) => `${p.path} ${p.type}`)), new Set(['/v1/traces application/x-protobuf']));
  const sent = Buffer.concat(posts.map((p) => p.body));
  for (const name of ['node.trace.on.front.Front.Hop', 'node.trace.on.back.Back.Seen']) {
    assert.ok(sent.includes(Buffer.from(name)), `${name} exported`);
  }
  assert.ok(sent.includes(Buffer.from(remote.trace, 'hex')), 'the trace id exported');
});
