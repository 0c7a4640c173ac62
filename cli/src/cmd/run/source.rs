//! Where `micro run`'s project comes from: a directory, or a git repository — a URL
//! (`https://…`, `ssh://…`, `git@host:…`, `file://…`, or anything ending in `.git`) is
//! cloned under the user's cache (`$XDG_CACHE_HOME/micro/run/`, else `~/.cache/micro/run/`)
//! and run from there. `-u` updates the source first: `git pull --ff-only` in a clone or in
//! a directory that is a git work tree.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why the source could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// git could not be started.
    #[error("cannot run git: {0}")]
    Spawn(std::io::Error),
    /// git failed.
    #[error("git {0} failed ({1})")]
    Git(String, std::process::ExitStatus),
    /// No place to clone into.
    #[error("no cache directory for clones: set XDG_CACHE_HOME or HOME")]
    NoCache,
}

/// Whether `arg` names a git repository rather than a directory.
pub fn is_git_url(arg: &str) -> bool {
    arg.contains("://") || arg.starts_with("git@") || (arg.ends_with(".git") && !Path::new(arg).is_dir())
}

fn git(args: &[&str], dir: Option<&Path>) -> Result<(), SourceError> {
    let mut cmd = Command::new("git");
    cmd.args(args);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let status = cmd.status().map_err(SourceError::Spawn)?;
    if status.success() {
        Ok(())
    } else {
        Err(SourceError::Git(args.first().copied().unwrap_or_default().to_string(), status))
    }
}

/// The directory a clone of `url` lives in: the cache, a hash of the whole URL (so two
/// repositories of one name do not collide), then the URL's last segment without `.git`.
fn clone_dir(url: &str) -> Result<PathBuf, SourceError> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")))
        .ok_or(SourceError::NoCache)?;
    let last = url.trim_end_matches('/').rsplit(['/', ':']).next().unwrap_or("project");
    let last = last.trim_end_matches(".git");
    let hash = url.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3));
    // The clone keeps the repository's name: with no project file, a directory's name is
    // its service's.
    Ok(cache.join("micro").join("run").join(format!("{:08x}", hash as u32)).join(last))
}

/// Where the project of `arg` is on this machine, without cloning or pulling (for `-s`,
/// `-k`, `ps`, `logs`).
pub fn local(arg: &str) -> PathBuf {
    if is_git_url(arg) {
        clone_dir(arg).unwrap_or_else(|_| PathBuf::from(arg))
    } else {
        PathBuf::from(arg)
    }
}

/// The project directory for `arg`: cloned (or, with `update`, pulled) when it is a git URL;
/// a directory is pulled with `update` when it is a git work tree.
pub fn resolve(arg: &str, update: bool) -> Result<PathBuf, SourceError> {
    if !is_git_url(arg) {
        let dir = PathBuf::from(arg);
        if update && dir.join(".git").exists() {
            git(&["pull", "--ff-only"], Some(&dir))?;
        }
        return Ok(dir);
    }
    let dir = clone_dir(arg)?;
    if dir.join(".git").exists() {
        if update {
            git(&["pull", "--ff-only"], Some(&dir))?;
        }
        return Ok(dir);
    }
    if let Some(parent) = dir.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let target = dir.to_string_lossy().to_string();
    git(&["clone", "--quiet", arg, &target], None)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::is_git_url;

    #[test]
    fn urls() {
        assert!(is_git_url("https://github.com/x/y"));
        assert!(is_git_url("file:///srv/git/p.git"));
        assert!(is_git_url("git@github.com:x/y.git"));
        assert!(!is_git_url("."));
        assert!(!is_git_url("./services"));
    }
}
