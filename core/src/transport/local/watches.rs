//! What an event loop keeps to watch its thread's runtime: the bookkeeping Python's asyncio
//! client and Node's JS thread share (issue 18), so each host only says how its loop
//! watches a descriptor ([`Watcher`]).
//!
//! A host that starts calls on its thread's runtime ([`super::spawn_here`]) turns that
//! runtime ([`super::turn`]) when one of its sockets is readable, and on a short one-shot
//! tick while calls are in flight there, for what no socket signals (a connect completing, a
//! timeout, a wake-up from another thread). After each start and each turn it calls
//! [`Watches::update`], which
//! - arms the tick while a call was started since the last tick or tasks are alive there;
//! - matches the watches to the runtime's sockets: gone ones first, by id (a closed socket's
//!   number may be the next one's already), then new ones;
//! - when a call was just started, resumes the watches muted while their sockets sat idle in
//!   a pool (the call may be carried by one of them now).
//!
//! A socket found readable while idle in a pool ([`super::pooled`], asked before the turn)
//! has no call to read it: its peer closed it, and a level-triggered loop would report it on
//! every pass. The host mutes it after the turn ([`Watches::mute`]) until a call takes it.
//!
//! Each watch is of a duplicate of the runtime's descriptor, made while the socket is still
//! listed (so it is that socket's) and closed only after the host let go of the watch. The
//! runtime's socket may be closed by another thread (a pool dropping a failed address's
//! connections), and its number given to a socket of the host's before the loop learns of
//! it; a watch of the reused number would take that socket's events, and removing it would
//! remove the host's own. A duplicate's number stays ours until we close it. The cost: a
//! socket the runtime closed is closed for its peer only once the next update lets go of
//! its duplicate (updates follow every turn, so at once when the runtime's own thread
//! closed it).

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// How a host's event loop watches sockets and keeps a one-shot timer, for [`Watches`]. Its
/// methods run on the loop's thread, from [`Watches`]' own.
pub trait Watcher {
    /// The host's watch of one socket (a selector registration, a `uv_poll_t`).
    type Watch;

    /// A stopped watch of socket `id` through `fd`, a duplicate of the runtime's descriptor
    /// that stays open until after [`Watcher::close`]; `None` when the host cannot make one
    /// (the tick turns the runtime for that socket meanwhile).
    fn open(&mut self, id: u64, fd: RawFd) -> Option<Self::Watch>;

    /// Starts reporting the socket readable (the host then turns the runtime, and tells
    /// which socket it was, for [`super::pooled`]); false when the loop refuses, and the
    /// watch stays muted until a call starts.
    fn start(&mut self, watch: &Self::Watch) -> bool;

    /// Stops reporting the socket, for now.
    fn stop(&mut self, watch: &Self::Watch);

    /// Lets go of a stopped watch whose socket is gone.
    fn close(&mut self, watch: Self::Watch);

    /// Arms the one-shot tick, which turns the runtime and then calls [`Watches::ticked`]
    /// and [`Watches::update`]; false when the loop refuses (the next update tries again).
    fn arm_tick(&mut self) -> bool;
}

/// One watched socket.
struct Entry<T> {
    /// The socket's id: never reused.
    id: u64,
    watch: T,
    /// Stopped for now: readable while idle in a pool, or the loop refused to start it.
    muted: bool,
    /// The duplicate the watch is of; after `watch`, so it outlives it.
    fd: OwnedFd,
}

/// An event loop's watch over its thread's runtime: which sockets it watches, and the tick.
/// Kept by the host on the loop's thread, one per loop.
pub struct Watches<T> {
    watched: Vec<Entry<T>>,
    /// The generation of the runtime's sockets last seen.
    seen: u64,
    /// The tick is armed.
    ticking: bool,
    /// A call was started since the tick was last armed.
    started: bool,
}

impl<T> Default for Watches<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Watches<T> {
    /// Nothing watched yet.
    pub const fn new() -> Self {
        Watches { watched: Vec::new(), seen: u64::MAX, ticking: false, started: false }
    }

    /// Arms the tick if calls may be in flight, and watches the runtime's sockets as they are
    /// now: after a call started on this thread's runtime (`started`), and after every turn
    /// of it.
    pub fn update<W: Watcher<Watch = T>>(&mut self, host: &mut W, started: bool) {
        self.started |= started;
        // The tick first: whatever becomes of the watches below, calls in flight go on.
        if !self.ticking && (self.started || super::tasks() > 0) && host.arm_tick() {
            self.ticking = true;
            self.started = false;
        }
        if let Some(new) = self.changes(host) {
            for (id, fd) in new {
                if let Some(watch) = host.open(id, fd.as_raw_fd()) {
                    let muted = !host.start(&watch);
                    self.watched.push(Entry { id, watch, muted, fd });
                }
            }
        }
        if started {
            // A socket muted while idle may carry this call now.
            for e in self.watched.iter_mut().filter(|e| e.muted && !super::pooled(e.id)) {
                e.muted = !host.start(&e.watch);
            }
        }
    }

    /// When the runtime's sockets changed since last seen: lets go of the watches of those
    /// gone, and gives the new ones, each with a duplicate of its descriptor.
    fn changes<W: Watcher<Watch = T>>(&mut self, host: &mut W) -> Option<Vec<(u64, OwnedFd)>> {
        let sockets = super::own_sockets()?;
        let (gone, new) = {
            let list = sockets.lock();
            let generation = sockets.generation.load(std::sync::atomic::Ordering::Acquire);
            if generation == self.seen {
                return None;
            }
            self.seen = generation;
            let (kept, gone) = std::mem::take(&mut self.watched)
                .into_iter()
                .partition::<Vec<_>, _>(|e| list.iter().any(|s| s.id == e.id));
            self.watched = kept;
            let new: Vec<(u64, OwnedFd)> = list
                .iter()
                .filter(|s| !self.watched.iter().any(|e| e.id == s.id))
                .filter_map(|s| {
                    // SAFETY: a listed socket is open: its listing is dropped before it
                    // closes, and that takes this lock.
                    let borrowed = unsafe { BorrowedFd::borrow_raw(s.fd) };
                    match borrowed.try_clone_to_owned() {
                        Ok(fd) => Some((s.id, fd)),
                        Err(e) => {
                            // Unwatched: the tick turns the runtime for it meanwhile.
                            tracing::debug!(error = %e, fd = s.fd, "cannot duplicate a socket to watch it");
                            None
                        }
                    }
                })
                .collect();
            (gone, new)
        };
        // The loop's calls are made outside the lock.
        for e in gone {
            if !e.muted {
                host.stop(&e.watch);
            }
            host.close(e.watch);
        }
        Some(new)
    }

    /// Stops watching socket `id` until a call starts when it is readable now while idle in
    /// a pool (its peer closed it), which the loop would report on every pass. A report made
    /// stale meanwhile (another callback of the same pass turned the runtime, which read the
    /// reply and pooled the socket) leaves it watched.
    pub fn mute<W: Watcher<Watch = T>>(&mut self, host: &mut W, id: u64) {
        if let Some(e) = self.watched.iter_mut().find(|e| e.id == id && !e.muted) {
            if readable(&e.fd) {
                host.stop(&e.watch);
                e.muted = true;
            }
        }
    }

    /// The tick fired: the next [`update`](Watches::update) arms it again if needed.
    pub fn ticked(&mut self) {
        self.ticking = false;
    }

    /// How many sockets the loop watches now (muted ones not counted).
    pub fn watching(&self) -> usize {
        self.watched.iter().filter(|e| !e.muted).count()
    }
}

/// Whether `fd` has something to read, or its peer closed it, now (a failed poll says no:
/// the socket stays watched, and the next report asks again).
fn readable(fd: &OwnedFd) -> bool {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one pollfd, for a descriptor this entry owns; a zero timeout never blocks.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents != 0
}

#[cfg(test)]
mod tests {
    use super::super::{pooled, spawn_here, turn, Watched};
    use super::*;

    /// A loop that records what it is asked.
    #[derive(Default)]
    struct Recorder {
        calls: Vec<String>,
        refuse_start: bool,
    }

    impl Watcher for Recorder {
        type Watch = (u64, RawFd);
        fn open(&mut self, id: u64, fd: RawFd) -> Option<(u64, RawFd)> {
            self.calls.push(format!("open {id}"));
            Some((id, fd))
        }
        fn start(&mut self, w: &(u64, RawFd)) -> bool {
            self.calls.push(format!("start {}", w.0));
            !self.refuse_start
        }
        fn stop(&mut self, w: &(u64, RawFd)) {
            self.calls.push(format!("stop {}", w.0));
        }
        fn close(&mut self, w: (u64, RawFd)) {
            self.calls.push(format!("close {}", w.0));
        }
        fn arm_tick(&mut self) -> bool {
            self.calls.push("tick".into());
            true
        }
    }

    impl Recorder {
        fn take(&mut self) -> Vec<String> {
            std::mem::take(&mut self.calls)
        }
    }

    /// A socket listed among this thread's runtime's, with its id and descriptor; listed by
    /// a task spawned there, as a connection dialled there is.
    fn listed(stream: &std::net::TcpStream) -> (Watched, u64) {
        let fd = stream.as_raw_fd();
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = spawn_here(Box::pin(async move {
            let _ = tx.send(Watched::new(fd));
        }));
        assert!(spawned.is_ok(), "spawn_here refused on a plain thread");
        turn().expect("a turn");
        let watched = rx.try_recv().expect("the task ran").expect("listed while driving");
        let id = watched.socket.id;
        (watched, id)
    }

    #[test]
    fn watches_follow_the_sockets_and_mute_the_idle_ones() {
        std::thread::spawn(|| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let stream = std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
            let mut host = Recorder::default();
            let mut watches = Watches::new();
            let (watched, id) = listed(&stream);

            watches.update(&mut host, true);
            assert_eq!(host.take(), ["tick".to_string(), format!("open {id}"), format!("start {id}")]);
            assert_eq!(watches.watching(), 1);
            let dup = watches.watched[0].watch.1;
            assert_ne!(dup, stream.as_raw_fd(), "the watch is of a duplicate");

            // Nothing changed, the tick is armed: nothing asked.
            watches.update(&mut host, true);
            assert_eq!(host.take(), Vec::<String>::new());

            // Idle in a pool, reported readable but with nothing to read now (a turn read it
            // meanwhile): left watched.
            watched.set_pooled(true);
            assert!(pooled(id));
            watches.mute(&mut host, id);
            assert_eq!(host.take(), Vec::<String>::new(), "a stale report mutes nothing");
            assert_eq!(watches.watching(), 1);
            // Its peer closed it: readable while idle, muted, and stays so while pooled.
            drop(listener.accept().expect("accept"));
            watches.mute(&mut host, id);
            assert_eq!(host.take(), [format!("stop {id}")]);
            assert_eq!(watches.watching(), 0);
            watches.ticked();
            watches.update(&mut host, true);
            assert_eq!(host.take(), ["tick"], "still pooled: still muted");

            // Taken by a call: watched again when the next call starts.
            watched.set_pooled(false);
            assert!(!pooled(id));
            watches.update(&mut host, true);
            assert_eq!(host.take(), [format!("start {id}")]);

            // Gone: stopped, let go of, and its duplicate closed.
            drop(watched);
            watches.ticked();
            watches.update(&mut host, false);
            let asked = host.take();
            assert_eq!(
                asked,
                ["tick".to_string(), format!("stop {id}"), format!("close {id}")],
                "a call started since"
            );
            assert_eq!(watches.watching(), 0);
            watches.ticked();
            watches.update(&mut host, false);
            assert_eq!(host.take(), Vec::<String>::new(), "no call started since, no task alive: no tick");
            // SAFETY: only asks whether the number is open.
            assert_eq!(unsafe { libc::fcntl(dup, libc::F_GETFD) }, -1, "the duplicate is closed");
        })
        .join()
        .expect("no panic");
    }

    #[test]
    fn a_watch_the_loop_refuses_is_tried_again_when_a_call_starts() {
        std::thread::spawn(|| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let stream = std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
            let mut host = Recorder { refuse_start: true, ..Recorder::default() };
            let mut watches = Watches::new();
            let (_watched, id) = listed(&stream);
            watches.update(&mut host, false);
            assert_eq!(host.take(), [format!("open {id}"), format!("start {id}")]);
            assert_eq!(watches.watching(), 0, "refused: muted");
            watches.update(&mut host, false);
            assert_eq!(host.take(), Vec::<String>::new(), "not retried without a call");
            host.refuse_start = false;
            watches.update(&mut host, true);
            assert_eq!(host.take(), ["tick".to_string(), format!("start {id}")]);
            assert_eq!(watches.watching(), 1);
        })
        .join()
        .expect("no panic");
    }
}
