//! This process, as hosts and thread-owned runtimes need to know it.

#[cfg(unix)]
use std::sync::atomic::{AtomicU32, Ordering};

/// This process's id, read from memory: what `std::process::id()` answers, without its
/// system call (glibc no longer caches `getpid`). Callers ask it on every call to tell a
/// forked child from its parent (a thread's own runtime, a binding's objects), and the
/// system call was one per call of a blocking client (issue 18).
///
/// The value is refreshed in the child of every `fork()` by a `pthread_atfork` handler,
/// which libc runs before `fork()` returns in the child, whoever forks: a host's own fork
/// (Python's `os.fork`, multiprocessing), a C extension, the C ABI's caller. (A raw
/// `clone` that skips libc runs no code of ours in the child.) If the handler cannot be
/// registered, every call asks the kernel.
pub fn id() -> u32 {
    #[cfg(unix)]
    {
        static PID: AtomicU32 = AtomicU32::new(0);
        static HOOKED: std::sync::Once = std::sync::Once::new();
        extern "C" fn in_child() {
            // getpid is async-signal-safe, as a fork handler must be.
            PID.store(std::process::id(), Ordering::Relaxed);
        }
        HOOKED.call_once(|| {
            PID.store(std::process::id(), Ordering::Relaxed);
            // SAFETY: registers a handler that only makes an async-signal-safe call and
            // stores an atomic.
            if unsafe { libc::pthread_atfork(None, None, Some(in_child)) } != 0 {
                PID.store(0, Ordering::Relaxed);
            }
        });
        match PID.load(Ordering::Relaxed) {
            0 => std::process::id(),
            p => p,
        }
    }
    #[cfg(not(unix))]
    {
        std::process::id()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_the_kernels_answer() {
        assert_eq!(super::id(), std::process::id());
        assert_eq!(super::id(), std::process::id());
    }
}
