'use strict';
// The library's own log events (registry, transport, broker, exporters). Which are produced
// is set once, when the package loads: MICRO_LOG_LEVEL (go-micro's names: trace, debug, info,
// warn, error, fatal), else RUST_LOG's directives, else warnings and errors. With no hook,
// warnings and errors are printed on stderr (`micro: warn <module>: <message>`); with
// `onLog(hook)`, every produced event goes to `hook(level, target, message)` on the event
// loop instead (level: 'error' | 'warn' | 'info' | 'debug' | 'trace'; target: the Rust
// module). The hook never keeps the process alive; `onLog(null)` goes back to stderr.

const native = require('./native');

const note = native.initLogs();
if (note) process.stderr.write(`${note}\n`);

let current = null;

/** Hands every queued event to the hook, oldest first. */
function deliver() {
  if (current === null) return;
  for (const [level, target, message] of native.takeLogs()) {
    try {
      current(level, target, message);
    } catch (e) {
      process.stderr.write(`micro: the log hook threw: ${e && e.stack ? e.stack : e}\n`);
    }
  }
}

// The wake-up is weak: the loop may end before it runs. What was queued by then still
// reaches the hook, synchronously, as the process exits.
process.on('exit', deliver);

/**
 * Sends the library's log events to `hook(level, target, message)`, or back to stderr
 * (warnings and errors) with `null`. A hook that throws is reported on stderr; the next
 * event still reaches it.
 */
function onLog(hook) {
  if (hook !== null && typeof hook !== 'function') {
    throw new TypeError(`micro.onLog(hook): hook must be a function (level, target, message) or null, got ${typeof hook}`);
  }
  current = hook;
  native.setLogHook(hook === null ? null : deliver);
}

module.exports = { onLog };
