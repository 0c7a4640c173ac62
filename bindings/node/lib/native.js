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
  // A path in MICRO_NODE_ADDON is the file's, from the working directory: `require` alone
  // would take `build/micro.node` for a package name and look in node_modules.
  const given = process.env.MICRO_NODE_ADDON;
  const file = given ? path.resolve(given) : fs.existsSync(local) ? local : null;
  if (file) {
    try {
      return require(file);
    } catch (e) {
      const why = given
        ? `MICRO_NODE_ADDON=${given}: cannot load the native module ${file}`
        : `cannot load the native module ${file} (run \`npm run build\` in bindings/node)`;
      const err = new Error(`micro: ${why}: ${e.message}`);
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
