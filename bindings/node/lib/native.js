'use strict';
// Loads the native module (micro.node, built from src/ with `npm run build`) that every
// other file in lib/ stands on. `MICRO_NODE_ADDON` points at another build.

const path = require('node:path');

function load() {
  const file = process.env.MICRO_NODE_ADDON || path.join(__dirname, '..', 'micro.node');
  try {
    return require(file);
  } catch (e) {
    const err = new Error(`micro: cannot load the native module ${file} (run \`npm run build\` in bindings/node): ${e.message}`);
    err.cause = e;
    throw err;
  }
}

module.exports = load();
