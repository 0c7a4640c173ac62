'use strict';
// Builds the native module with cargo and copies it to micro.node next to index.js.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const debug = process.argv.includes('--debug');
const root = path.resolve(__dirname, '..');
const args = ['build', '-p', 'micro-node', '--message-format=short'];
if (!debug) args.push('--release');
execFileSync('cargo', args, { cwd: root, stdio: 'inherit' });
const meta = JSON.parse(execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], { cwd: root }).toString());
const lib = { linux: 'libmicro_node.so', darwin: 'libmicro_node.dylib', win32: 'micro_node.dll' }[process.platform];
if (!lib) throw new Error(`unsupported platform ${process.platform}`);
const src = path.join(meta.target_directory, debug ? 'debug' : 'release', lib);
const dst = path.join(root, 'micro.node');
// Copy to a temporary name and rename, so a running process never sees a half-written file.
fs.copyFileSync(src, `${dst}.tmp`);
fs.renameSync(`${dst}.tmp`, dst);
console.log(`built ${dst}`);
