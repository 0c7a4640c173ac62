'use strict';
// Builds the packages a registry would serve, in napi-rs's per-platform layout:
//
//   node scripts/package.js [--out DIR] [--addon FILE]
//
// writes DIR/micro-mesh/ (JavaScript, types, install hook; `optionalDependencies` on the
// platform package) and DIR/micro-mesh-<platform>-<arch>[-<libc>]/ (this machine's prebuilt
// micro.node, with `os`/`cpu`/`libc` so npm installs it only where it runs), then `npm pack`s
// both into DIR. DIR defaults to <cargo target dir>/npm; the addon is built with
// `cargo build --release` unless --addon names one. A user installs them with
// `npm install micro@npm:micro-mesh` (so `require('micro')` keeps working) or
// `npm install micro-mesh`.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { MAIN, platformPackage, libc } = require('../lib/platform');

const root = path.resolve(__dirname, '..');
const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const source = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const meta = JSON.parse(execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], { cwd: root }).toString());
const out = path.resolve(arg('--out') || path.join(meta.target_directory, 'npm'));

let addon = arg('--addon');
if (!addon) {
  execFileSync(process.execPath, [path.join(__dirname, 'build.js')], { cwd: root, stdio: 'inherit' });
  addon = path.join(root, 'micro.node');
}

function copy(from, to) {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.cpSync(from, to, { recursive: true });
}
function write(dir, pkg) {
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  const tgz = execFileSync('npm', ['pack', '--silent', '--pack-destination', out], { cwd: dir }).toString().trim().split('\n').pop();
  console.log(path.join(out, tgz));
}

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });

// The platform package: only micro.node.
const plat = platformPackage();
const platDir = path.join(out, plat);
copy(addon, path.join(platDir, 'micro.node'));
copy(path.join(root, 'LICENSE'), path.join(platDir, 'LICENSE'));
fs.writeFileSync(path.join(platDir, 'README.md'), `# ${plat}\n\nThe prebuilt native module of [${MAIN}](https://www.npmjs.com/package/${MAIN}) for ${process.platform}-${process.arch}. Install \`${MAIN}\`, not this.\n`);
const platPkg = {
  name: plat,
  version: source.version,
  description: `${MAIN}'s native module for ${process.platform}-${process.arch}`,
  license: source.license,
  main: 'micro.node',
  files: ['micro.node', 'LICENSE', 'README.md'],
  os: [process.platform],
  cpu: [process.arch],
  engines: source.engines,
};
if (process.platform === 'linux') platPkg.libc = [libc() === 'gnu' ? 'glibc' : 'musl'];
write(platDir, platPkg);

// The main package: everything but micro.node and the build scripts' sources.
const mainDir = path.join(out, MAIN);
for (const f of ['index.js', 'index.mjs', 'index.d.ts', 'lib', 'LICENSE', 'README.md', 'scripts/install.js']) {
  copy(path.join(root, f), path.join(mainDir, f));
}
const mainPkg = { ...source };
mainPkg.files = source.files.filter((f) => f !== 'micro.node' && f !== 'scripts/build.js');
mainPkg.optionalDependencies = { [plat]: source.version };
delete mainPkg.devDependencies;
mainPkg.scripts = { install: source.scripts.install };
write(mainDir, mainPkg);
