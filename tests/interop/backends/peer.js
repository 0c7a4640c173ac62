// A Node peer for tests/interop/backends.sh, on whatever registry and broker the environment
// names (MICRO_REGISTRY, MICRO_BROKER, MICRO_BROKER_ADDRESS):
//   peer.js serve NAME TOPIC     Greeter.Hello, a subscriber to TOPIC printing one JSON line
//                                per message ({"event":"message","body":…}), after a ready line
//   peer.js call SERVICE         prints SERVICE's Greeter.Hello answer to {"name":"Node"}
//   peer.js publish TOPIC TEXT   publishes {"text": TEXT} once
const path = require('node:path');
const micro = require(path.join(__dirname, '..', '..', '..', 'bindings', 'node'));

async function main() {
  const [cmd, a, b] = process.argv.slice(2);
  if (cmd === 'serve') {
    const svc = new micro.Service(a);
    svc.handle('Greeter.Hello', async (req) => ({ message: `Hello ${req.name}` }));
    svc.subscribe(b, (body) => {
      console.log(JSON.stringify({ event: 'message', body: JSON.stringify(body) }));
    });
    await svc.start();
    console.log(JSON.stringify({ event: 'ready' }));
    return;
  }
  const client = new micro.Client();
  if (cmd === 'call') {
    const rsp = await client.call(a, 'Greeter.Hello', { name: 'Node' });
    console.log(rsp.message);
  } else if (cmd === 'publish') {
    await client.publish(a, { text: b });
  }
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
