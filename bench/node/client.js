'use strict';
// The Node client side of the benchmarks: a closed loop of `micro.Client().call`s.
//
//   node client.js --addr H:P [--c 100] [--d 3] [--warmup 1]
//
// `--c` calls in flight (each starts when the last ended), explicit address (no registry),
// no retries. Prints one JSON line in loadgen's format: requests, errors, seconds, rate,
// p50_us, p99_us, p999_us. MICRO_NODE_PKG: the package (bindings/node if unset), for A/Bs.
const path = require('node:path');
const micro = require(process.env.MICRO_NODE_PKG || path.resolve(__dirname, '../../bindings/node'));

function arg(name, dflt) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const addr = arg('addr');
const c = Number(arg('c', '100'));
const d = Number(arg('d', '3'));
const warmup = Number(arg('warmup', '1'));
if (!addr || !(c > 0) || !(d > 0) || !(warmup >= 0)) {
  console.error('usage: node client.js --addr H:P [--c 100] [--d 3] [--warmup 1]');
  process.exit(2);
}

(async () => {
  const client = new micro.Client({ registry: 'memory', retries: 0, poolSize: c + 4 });
  const now = () => Number(process.hrtime.bigint()) / 1e9;
  const start = now() + warmup;
  const end = start + d;
  const lat = [];
  let errors = 0;
  async function worker() {
    for (;;) {
      const t = now();
      if (t >= end) return;
      let ok;
      try {
        const r = await client.call('greeter', 'Greeter.Hello', { name: 'bench' }, { address: addr });
        ok = r.message === 'Hello bench';
      } catch (_) {
        ok = false;
      }
      if (t >= start) {
        lat.push((now() - t) * 1e6);
        if (!ok) errors++;
      }
    }
  }
  await Promise.all(Array.from({ length: c }, worker));
  lat.sort((a, b) => a - b);
  const q = (x) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(x * lat.length))] : 0);
  console.log(JSON.stringify({ requests: lat.length, errors, seconds: d, rate: lat.length / d,
    p50_us: q(0.5), p99_us: q(0.99), p999_us: q(0.999) }));
  client.close();
  process.exit(0);
})().catch((e) => { console.error(String(e)); process.exit(1); });
