'use strict';
// Loads the native module that every other file in lib/ stands on, from the first of:
// `MICRO_NODE_ADDON` (another build), micro.node next to index.js (built from src/ with
// `npm run build`, or by the install hook from a source checkout), or the prebuilt
// per-platform package (`micro-mesh-linux-x64-gnu`, …; see lib/platform.js).

const fs = require('node:fs');
const path = require('node:path');
const { platformPackage } = require('./platform');

function load() {
  const local = path.join(__dirname, '..', 'micro.node');
  const file = process.env.MICRO_NODE_ADDON || (fs.existsSync(local) ? local : null);
  if (file) {
    try {
      return require(file);
    } catch (e) {
      const err = new Error(`micro: cannot load the native module ${file} (run \`npm run build\` in bindings/node): ${e.message}`);
      err.cause = e;
      throw err;
    }
  }
  const pkg = platformPackage();
  try {
    return require(pkg);
  } catch (e) {
    const err = new Error(
      `micro: no native module for ${process.platform}-${process.arch}: ${local} is missing and the prebuilt package ${pkg} is not installed (${e.message}). ` +
        'Reinstall without --no-optional, or build from source: `npm run build` in a checkout of bindings/node (needs Rust).');
    err.cause = e;
    throw err;
  }
}

module.exports = load();
