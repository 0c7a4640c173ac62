// The greeter, in Node: `node server.js [NAME]` serves Greeter.Hello, Greeter.Fail and
// Greeter.Stream over mDNS (go-micro's default registry) until Ctrl-C, then deregisters
// and exits.
const micro = require('micro');

const svc = new micro.Service(process.argv[2] || 'greeter');

svc.handle('Greeter.Hello', async (req) => ({ message: `Hello ${req.name}` }));

svc.handle('Greeter.Fail', (req) => {
  throw new micro.MicroError({ id: svc.name, code: req.code || 500, detail: req.detail || 'failed' });
});

svc.handle('Greeter.Stream', async (stream) => {
  for await (const msg of stream) await stream.send({ message: `Hello ${msg.name}` });
}, { stream: true });

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    svc.close().then(() => console.error(`stopped ${svc.name}`));
  });
}

svc.start().then(() => console.error(`serving ${svc.name} as ${svc.id} on ${svc.address}`));
