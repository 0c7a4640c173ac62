'use strict';
// The library's own log events in Node: `micro.onLog(hook)` gets them on the event loop,
// without a hook warnings go to stderr, MICRO_LOG_LEVEL (go-micro's names) sets which are
// produced. Each case is a fresh process, since the level is read when the package loads;
// each ends by itself, so the hook does not hold the event loop open.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');
const { execFile } = require('node:child_process');
const micro = require('..');

const SCRIPT = path.join(__dirname, 'scripts', 'log_warning.js');
const WARNING = 'trace exporter: OTLP endpoint unreachable; spans lost';

async function closedPort() {
  const s = net.createServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return port;
}

async function runScript(mode, env = {}) {
  const e = { ...process.env, ...env };
  if (!('MICRO_LOG_LEVEL' in env)) delete e.MICRO_LOG_LEVEL;
  if (!('RUST_LOG' in env)) delete e.RUST_LOG;
  e.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${await closedPort()}`;
  // The timeout catches a process the hook would hold open; it is not a speed bound.
  const { stdout, stderr } = await new Promise((resolve, reject) => {
    execFile(process.execPath, [SCRIPT, ...(mode ? [mode] : [])], { env: e, timeout: 120000 }, (err, stdout, stderr) =>
      (err ? reject(new Error(`${err.message}\nstdout: ${stdout}\nstderr: ${stderr}`)) : resolve({ stdout, stderr })));
  });
  const lines = stdout.split('\n');
  assert.ok(lines.includes('done'), `${stdout}\n${stderr}`);
  return { logs: lines.filter((l) => l.startsWith('LOG ')), stderr };
}

test('a hook gets the library warning with its level, module and fields, and the process still ends', async () => {
  const { logs, stderr } = await runScript('hook');
  assert.ok(logs.length >= 1, stderr);
  for (const line of logs) {
    assert.ok(line.startsWith(`LOG warn micro::wrapper::trace ${WARNING}`), line);
    assert.match(line, /spans=\d+ address=127\.0\.0\.1:\d+/);
  }
  assert.ok(!stderr.includes(WARNING), stderr); // the hook took it instead of stderr
});

test('without a hook a warning is one stderr line; MICRO_LOG_LEVEL=error leaves it out', async () => {
  const plain = await runScript(null);
  const lines = plain.stderr.split('\n').filter((l) => l.includes(WARNING));
  assert.ok(lines.length >= 1, plain.stderr);
  for (const line of lines) assert.ok(line.startsWith(`micro: warn micro::wrapper::trace: ${WARNING}`), line);
  for (const env of [{ MICRO_LOG_LEVEL: 'error' }, { MICRO_LOG_LEVEL: 'fatal' }, { RUST_LOG: 'error' }]) {
    const quiet = await runScript('hook', env);
    assert.deepEqual(quiet.logs, [], JSON.stringify(env));
    assert.ok(!quiet.stderr.includes(WARNING), quiet.stderr);
  }
  const loud = await runScript(null, { MICRO_LOG_LEVEL: 'loud' });
  assert.match(loud.stderr, /MICRO_LOG_LEVEL="loud" is not one of trace/);
  assert.ok(loud.stderr.includes(WARNING), loud.stderr); // the default level applies
});

test('a hook that throws is reported on stderr and the process goes on', async () => {
  const { stderr } = await runScript('throw');
  assert.match(stderr, /the log hook threw: Error: hook broke/);
});

test('onLog takes a function or null, nothing else', () => {
  assert.throws(() => micro.onLog('stderr'), { name: 'TypeError', message: /hook must be a function .* or null, got string/ });
  micro.onLog(null);
});
