'use strict';
// The name of the per-platform package that carries a prebuilt micro.node, in napi-rs's
// layout: the main package `micro-mesh` lists `micro-mesh-<platform>-<arch>[-<abi>]` as
// optional dependencies and npm installs only the one whose `os`/`cpu`/`libc` match.
// native.js loads it; scripts/package.js builds it.

const MAIN = 'micro-mesh';

/** The C library this Node runs on, for Linux: 'gnu' or 'musl'. */
function libc() {
  const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null;
  return report && report.header && report.header.glibcVersionRuntime ? 'gnu' : 'musl';
}

/** `micro-mesh-linux-x64-gnu`, `micro-mesh-darwin-arm64`, … for this process. */
function platformPackage(platform = process.platform, arch = process.arch) {
  const suffix = platform === 'linux' ? `-${libc()}` : platform === 'win32' ? '-msvc' : '';
  return `${MAIN}-${platform}-${arch}${suffix}`;
}

module.exports = { MAIN, platformPackage, libc };
