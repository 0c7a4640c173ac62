'use strict';
// Shared helpers for the node --test suite.
const { spawn } = require('node:child_process');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..', '..');

/** Runs `node -e code` and resolves {code, signal, stdout, stderr, ms}; kills it after `ms`. */
function runNode(code, { timeout = 15000, env = {} } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const p = spawn(process.execPath, ['-e', code], { cwd: path.resolve(__dirname, '..'), env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    let killed = false;
    const timer = setTimeout(() => { killed = true; p.kill('SIGKILL'); }, timeout);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, killed, ms: Date.now() - t0 });
    });
  });
}

/** A local greeter on the memory registry with the standard endpoints. */
async function greeter(micro, name = 'node.greeter') {
  const svc = new micro.Service({ name, registry: 'memory', broker: 'memory', address: '127.0.0.1:0' });
  svc.handle('Greeter.Hello', async (req) => ({ message: `Hello ${req.name}` }));
  svc.handle('Greeter.Plain', (req) => ({ message: `Plain ${req.name}` }));
  svc.handle('Greeter.Fail', (req) => { throw new micro.MicroError({ id: name, code: req.code, detail: req.detail }); });
  svc.handle('Greeter.Throw', () => { throw new TypeError('thrown plainly'); });
  svc.handle('Greeter.Reject', () => Promise.reject(new Error('rejected')));
  svc.handle('Greeter.RejectString', () => Promise.reject('a string')); // eslint-disable-line prefer-promise-reject-errors
  svc.handle('Greeter.Bytes', (body, req) => Buffer.concat([Buffer.from('got:'), req.raw]));
  svc.handle('Greeter.Meta', (body, req) => ({ header: req.header, contentType: req.contentType }));
  svc.handle('Greeter.Stream', async (stream) => {
    for await (const m of stream) await stream.send({ message: `Hello ${m.name}` });
  }, { stream: true });
  await svc.start();
  return svc;
}

module.exports = { ROOT, runNode, greeter };
