//! `micro run`'s supervisor: one task per service that waits for the services it depends on
//! to register, builds it, starts it in its own process group with the run's variables,
//! prefixes its output with its name (on stdout and in its log file), watches the registry
//! until a node of this run of it appears, restarts it with backoff when it dies (`-r`),
//! rebuilds and restarts it when a file in its directory changes, and stops it (SIGTERM to
//! its group) when the run ends. Every change is written to the state directory's
//! status.json.

use super::build::{self, Kind};
use super::state::{self, ServiceStatus, StateDir, Status};
use micro::registry::Registry;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// One service to supervise.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Its name (the name it registers under).
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Its language.
    pub kind: Kind,
    /// Variables set for it, on top of micro run's own environment.
    pub env: Vec<(String, String)>,
    /// The services that must be registered before it starts.
    pub depends: Vec<String>,
}

/// What the services' tasks share.
pub struct Shared {
    /// The registry the services register in.
    pub registry: Arc<dyn Registry>,
    /// The state directory.
    pub state: StateDir,
    /// Restart a service that exits (`-r`).
    pub restart: bool,
    status: Mutex<Status>,
    registered: BTreeMap<String, watch::Sender<bool>>,
    width: usize,
}

impl Shared {
    /// State for `units`, in start order.
    pub fn new(
        registry: Arc<dyn Registry>,
        state: StateDir,
        restart: bool,
        gateway: Option<String>,
        units: &[Unit],
    ) -> Arc<Self> {
        let services = units
            .iter()
            .map(|u| ServiceStatus {
                name: u.name.clone(),
                lang: u.kind.name().into(),
                dir: u.dir.display().to_string(),
                state: "waiting".into(),
                ..Default::default()
            })
            .collect();
        let status = Status { pid: std::process::id(), gateway, services };
        state.write_status(&status);
        let registered = units.iter().map(|u| (u.name.clone(), watch::channel(false).0)).collect();
        let width = units.iter().map(|u| u.name.len()).max().unwrap_or(0);
        Arc::new(Shared { registry, state, restart, status: Mutex::new(status), registered, width })
    }

    /// Changes one service's status and writes status.json.
    fn update(&self, name: &str, f: impl FnOnce(&mut ServiceStatus)) {
        let Ok(mut status) = self.status.lock() else { return };
        if let Some(s) = status.services.iter_mut().find(|s| s.name == name) {
            f(s);
        }
        self.state.write_status(&status);
    }

    /// One line of a service's output: on stdout as `name | line`, and in its log file.
    pub fn line(&self, name: &str, text: &str) {
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{name:<width$} | {text}", width = self.width);
            let _ = out.flush();
        }
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(self.state.log_file(name)) {
            let _ = writeln!(f, "{text}");
        }
    }

    fn set_registered(&self, name: &str, yes: bool) {
        if let Some(tx) = self.registered.get(name) {
            tx.send_replace(yes);
        }
        self.update(name, |s| s.registered = yes);
    }

    /// Waits until each of `names` has registered (a node of its current run is there).
    async fn wait_registered(&self, names: &[String]) {
        for n in names {
            if let Some(tx) = self.registered.get(n) {
                let mut rx = tx.subscribe();
                let _ = rx.wait_for(|r| *r).await;
            }
        }
    }
}

/// The node ids registered for `name` now.
async fn node_ids(registry: &Arc<dyn Registry>, name: &str) -> HashSet<String> {
    match registry.get_service(name).await {
        Ok(svcs) => svcs.into_iter().flat_map(|s| s.nodes.into_iter().map(|n| n.id)).collect(),
        Err(_) => HashSet::new(),
    }
}

/// Watches the registry until `name` has a node not among `before`: then marks it
/// registered. Checks on each registry event for it, and every 2 s (mDNS may miss an
/// announcement).
async fn watch_registration(shared: Arc<Shared>, name: String, before: HashSet<String>, stop: CancellationToken) {
    let mut watcher = shared.registry.watch(Some(&name)).await.ok();
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        let now = node_ids(&shared.registry, &name).await;
        if now.iter().any(|id| !before.contains(id)) {
            shared.set_registered(&name, true);
            shared.line(&name, "registered");
            return;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
            ev = async {
                match watcher.as_mut() {
                    Some(w) => w.next().await,
                    None => std::future::pending().await,
                }
            } => if ev.is_none() { watcher = None },
        }
    }
}

/// Forwards each line of a child's output to the service's prefix and log.
fn forward(shared: Arc<Shared>, name: String, pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            shared.line(&name, &l);
        }
    });
}

/// Stops a running child: SIGTERM to its group, SIGKILL after 10 s.
async fn stop_child(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        state::signal_group(pid, libc::SIGTERM);
        if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_ok() {
            return;
        }
        state::signal_group(pid, libc::SIGKILL);
    }
    let _ = child.wait().await;
}

/// Why the wait for a running (or idle) service ended.
enum Wake {
    Exited(String),
    Reload,
    Stop,
}

/// Supervises one service until `stop`: build, start, restart, reload.
pub async fn supervise(unit: Unit, shared: Arc<Shared>, mut reload: mpsc::Receiver<()>, stop: CancellationToken) {
    let name = unit.name.clone();
    if !unit.depends.is_empty() {
        shared.line(&name, &format!("waiting for {} to register", unit.depends.join(", ")));
        tokio::select! {
            _ = shared.wait_registered(&unit.depends) => {}
            _ = stop.cancelled() => return,
        }
    }
    let mut backoff = Duration::from_secs(1);
    loop {
        if stop.is_cancelled() {
            return;
        }
        if shared.state.stop_marker(&name).exists() {
            shared.update(&name, |s| {
                s.state = "stopped".into();
                s.pid = None;
            });
            // Stopped with -k: stays so until micro run restarts (or a file changes).
            tokio::select! {
                _ = stop.cancelled() => return,
                r = reload.recv() => if r.is_none() { return },
            }
            let _ = std::fs::remove_file(shared.state.stop_marker(&name));
            continue;
        }
        shared.update(&name, |s| s.state = "building".into());
        let out = |l: &str| shared.line(&name, l);
        let launch = build::build(unit.kind, &unit.dir, &name, &shared.state.bin_dir(), &out).await;
        // Changes made by the build itself (lock files, caches) are not edits.
        while reload.try_recv().is_ok() {}
        let launch = match launch {
            Ok(l) => l,
            Err(e) => {
                shared.line(&name, &format!("build failed: {e}; waiting for a change"));
                shared.update(&name, |s| s.state = "build failed".into());
                tokio::select! {
                    _ = stop.cancelled() => return,
                    r = reload.recv() => if r.is_none() { return },
                }
                continue;
            }
        };
        let before = node_ids(&shared.registry, &name).await;
        let mut cmd = Command::new(&launch.program);
        cmd.args(&launch.args)
            .current_dir(&unit.dir)
            .envs(unit.env.iter().cloned())
            .envs(launch.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        // If micro run itself dies (kill -9), its services get SIGTERM rather than living on.
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe, and this closure only calls it.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                shared.line(&name, &format!("cannot start {}: {e}", launch.program.display()));
                shared.update(&name, |s| s.state = "exited".into());
                tokio::select! {
                    _ = stop.cancelled() => return,
                    r = reload.recv() => if r.is_none() { return },
                }
                continue;
            }
        };
        let pid = child.id();
        if let Some(o) = child.stdout.take() {
            forward(shared.clone(), name.clone(), o);
        }
        if let Some(e) = child.stderr.take() {
            forward(shared.clone(), name.clone(), e);
        }
        shared.line(&name, &format!("started (pid {})", pid.unwrap_or(0)));
        shared.set_registered(&name, false);
        shared.update(&name, |s| {
            s.state = "running".into();
            s.pid = pid;
            s.started = Some(state::now());
        });
        let reg_stop = CancellationToken::new();
        tokio::spawn(watch_registration(shared.clone(), name.clone(), before, reg_stop.clone()));
        let started = Instant::now();
        let wake = tokio::select! {
            r = child.wait() => Wake::Exited(match r {
                Ok(s) => s.to_string(),
                Err(e) => e.to_string(),
            }),
            r = reload.recv() => if r.is_some() { Wake::Reload } else { Wake::Stop },
            _ = stop.cancelled() => Wake::Stop,
        };
        reg_stop.cancel();
        match wake {
            Wake::Stop => {
                stop_child(&mut child).await;
                shared.line(&name, "stopped");
                shared.update(&name, |s| {
                    s.state = "stopped".into();
                    s.pid = None;
                    s.registered = false;
                });
                return;
            }
            Wake::Reload => {
                shared.line(&name, "file changed: rebuilding and restarting");
                stop_child(&mut child).await;
                shared.update(&name, |s| {
                    s.reloads += 1;
                    s.pid = None;
                });
                shared.set_registered(&name, false);
            }
            Wake::Exited(how) => {
                shared.set_registered(&name, false);
                shared.update(&name, |s| s.pid = None);
                if shared.state.stop_marker(&name).exists() {
                    shared.line(&name, &format!("stopped by micro run -k ({how})"));
                    continue;
                }
                if !shared.restart {
                    shared.line(&name, &format!("exited ({how}); waiting for a change (micro run -r restarts)"));
                    shared.update(&name, |s| s.state = "exited".into());
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        r = reload.recv() => if r.is_none() { return },
                    }
                    continue;
                }
                if started.elapsed() > Duration::from_secs(30) {
                    backoff = Duration::from_secs(1);
                }
                shared.line(&name, &format!("exited ({how}); restarting in {backoff:?}"));
                shared.update(&name, |s| {
                    s.state = "restarting".into();
                    s.restarts += 1;
                });
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}
