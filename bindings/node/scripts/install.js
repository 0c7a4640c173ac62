'use strict';
// npm's `install` hook: `npm install ./bindings/node` (from another project) and `npm
// install` here run it. It builds micro.node with cargo when the file is missing, so the
// one-command install works from a fresh clone; with micro.node present it does nothing
// (run `npm run build` to rebuild after changing the Rust code). MICRO_NODE_PROFILE=debug
// builds the dev profile (the test suite uses it to reuse the workspace build);
// MICRO_NODE_ADDON (a prebuilt addon elsewhere) or an installed prebuilt per-platform package
// (lib/platform.js) skips the build.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const addon = path.join(root, 'micro.node');

function fail(msg) {
  console.error(`micro: ${msg}`);
  process.exit(1);
}

if (process.env.MICRO_NODE_ADDON) process.exit(0);
if (fs.existsSync(addon)) process.exit(0);
// Installed from the registry: the prebuilt per-platform package, when npm installed it.
try {
  require.resolve(require('../lib/platform').platformPackage(), { paths: [root] });
  process.exit(0);
} catch (_) {
  // not installed: build from source below, when this copy has the sources
}
if (!fs.existsSync(path.join(root, 'Cargo.toml'))) {
  fail(`${addon} is missing and this copy of the package has no Rust sources to build it from; install from the repository (npm install ./bindings/node) or a package that ships micro.node`);
}
const cargo = spawnSync('cargo', ['--version'], { stdio: 'ignore' });
if (cargo.error || cargo.status !== 0) {
  fail(`${addon} is missing and cargo is not on PATH: install Rust (https://rustup.rs), then run \`npm run build\` in ${root}`);
}
const args = [path.join(__dirname, 'build.js')];
if (process.env.MICRO_NODE_PROFILE === 'debug') args.push('--debug');
console.error(`micro: building ${addon} with cargo (${process.env.MICRO_NODE_PROFILE === 'debug' ? 'dev' : 'release'} profile)…`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) fail(`building micro.node failed (exit ${r.status}); see cargo's output above`);
