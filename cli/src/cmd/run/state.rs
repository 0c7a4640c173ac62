//! The state directory of a running `micro run`, `<project>/.micro/run/`, through which
//! `micro run -s`, `-k`, `micro ps` and `micro logs` reach it from another process:
//!
//! - `micro.pid`: the pid of `micro run`;
//! - `status.json`: each service's state, pid, start time, restarts, reloads, registered;
//!   rewritten on every change;
//! - `logs/NAME.log`: each service's output (build and run), appended;
//! - `stop/NAME`: written by `-k NAME` before it signals the service, so `micro run` does
//!   not restart it;
//! - `bin/`: binaries built for Go services.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One service as `micro run` last saw it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// Its name.
    pub name: String,
    /// Its language.
    pub lang: String,
    /// Its directory.
    pub dir: String,
    /// building, starting, running, waiting (for dependencies), restarting, stopped,
    /// exited, build failed.
    pub state: String,
    /// The process's pid while it runs.
    pub pid: Option<u32>,
    /// When the process started, in seconds since the Unix epoch.
    pub started: Option<u64>,
    /// Restarts after a crash (`-r`).
    pub restarts: u32,
    /// Restarts after a file changed.
    pub reloads: u32,
    /// Whether a node of this run of it is in the registry.
    pub registered: bool,
}

/// What `status.json` holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    /// The pid of `micro run`.
    pub pid: u32,
    /// The gateway's address, when one runs.
    pub gateway: Option<String>,
    /// The services, in start order.
    pub services: Vec<ServiceStatus>,
}

/// The state directory of the project in `project`.
#[derive(Debug, Clone)]
pub struct StateDir(pub PathBuf);

impl StateDir {
    /// `<project>/.micro/run`.
    pub fn of(project: &Path) -> Self {
        StateDir(project.join(".micro").join("run"))
    }

    /// The state directory at `start` or above it that holds a status.json.
    pub fn find(start: &Path) -> Option<Self> {
        let start = std::fs::canonicalize(start).ok()?;
        start.ancestors().map(StateDir::of).find(|s| s.status_file().is_file())
    }

    /// Makes the directories.
    pub fn create(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(self.0.join("logs"))?;
        std::fs::create_dir_all(self.0.join("stop"))?;
        std::fs::create_dir_all(self.0.join("bin"))
    }

    /// `status.json`.
    pub fn status_file(&self) -> PathBuf {
        self.0.join("status.json")
    }

    /// `micro.pid`.
    pub fn pid_file(&self) -> PathBuf {
        self.0.join("micro.pid")
    }

    /// `logs/NAME.log`.
    pub fn log_file(&self, name: &str) -> PathBuf {
        self.0.join("logs").join(format!("{name}.log"))
    }

    /// `stop/NAME`.
    pub fn stop_marker(&self, name: &str) -> PathBuf {
        self.0.join("stop").join(name)
    }

    /// `bin/`.
    pub fn bin_dir(&self) -> PathBuf {
        self.0.join("bin")
    }

    /// Writes status.json (through a temporary file, so readers never see half of it).
    pub fn write_status(&self, status: &Status) {
        let tmp = self.0.join("status.json.tmp");
        if let Ok(text) = serde_json::to_vec_pretty(status) {
            if std::fs::write(&tmp, text).is_ok() {
                let _ = std::fs::rename(&tmp, self.status_file());
            }
        }
    }

    /// Reads status.json.
    pub fn read_status(&self) -> Option<Status> {
        serde_json::from_slice(&std::fs::read(self.status_file()).ok()?).ok()
    }
}

/// Whether a process with this pid exists.
pub fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    // SAFETY: kill with signal 0 sends nothing; it only checks the pid.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Sends `signal` to the process `pid`.
pub fn signal(pid: u32, signal: i32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    if pid <= 1 {
        return false;
    }
    // SAFETY: a plain kill(2).
    unsafe { libc::kill(pid, signal) == 0 }
}

/// Sends `signal` to the process group led by `pid` (each service runs in its own).
pub fn signal_group(pid: u32, signal: i32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    if pid <= 1 {
        return false;
    }
    // SAFETY: a plain kill(2) on a process group we started.
    unsafe { libc::kill(-pid, signal) == 0 }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
