//! Hot reload for `micro run`: a `notify` watcher on each service's directory (recursive)
//! that tells that service's supervisor when one of its source files changes. Build output
//! and tool state (`target/`, `node_modules/`, `.venv/`, `.micro/`, `__pycache__/`, lock
//! files …) are not sources; a burst of changes is one reload.

use notify::{EventKind, RecursiveMode, Watcher};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// Directory names whose contents are never sources.
const IGNORED_DIRS: &[&str] =
    &["target", "node_modules", ".venv", "venv", ".micro", "__pycache__", ".git", "build", "dist", ".pytest_cache"];
/// File names written by the tools themselves.
const IGNORED_FILES: &[&str] = &["Cargo.lock", "package-lock.json", "go.sum"];

/// Whether a change to `path` (under `root`) is a source change.
pub fn is_source(root: &Path, path: &Path) -> bool {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let hidden_dir = rel.components().any(|c| match c {
        Component::Normal(n) => {
            let n = n.to_string_lossy();
            IGNORED_DIRS.contains(&n.as_ref()) || n.ends_with(".egg-info")
        }
        _ => false,
    });
    let name = rel.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let tool_file = IGNORED_FILES.contains(&name.as_str())
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".tmp")
        || name.starts_with(".#");
    !hidden_dir && !tool_file
}

/// Watches `dirs` (each with the channel of its service); the returned watcher must be
/// kept alive for as long as the watch.
pub fn watch(dirs: Vec<(PathBuf, mpsc::Sender<()>)>) -> notify::Result<notify::RecommendedWatcher> {
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(ev) = res else { return };
        if matches!(ev.kind, EventKind::Access(_) | EventKind::Other | EventKind::Any) {
            return;
        }
        for p in ev.paths {
            let _ = raw_tx.send(p);
        }
    })?;
    for (d, _) in &dirs {
        watcher.watch(d, RecursiveMode::Recursive)?;
    }
    tokio::spawn(async move {
        while let Some(first) = raw_rx.recv().await {
            let mut changed = vec![first];
            // A save is often several events (write, rename, chmod): take them as one.
            while let Ok(Some(p)) = tokio::time::timeout(Duration::from_millis(300), raw_rx.recv()).await {
                changed.push(p);
            }
            // The deepest directory holding the path is its service (services may nest).
            let mut hit: Vec<usize> = Vec::new();
            for p in &changed {
                let owner = dirs
                    .iter()
                    .enumerate()
                    .filter(|(_, (d, _))| p.starts_with(d) && is_source(d, p))
                    .max_by_key(|(_, (d, _))| d.components().count())
                    .map(|(i, _)| i);
                if let Some(i) = owner {
                    if !hit.contains(&i) {
                        hit.push(i);
                    }
                }
            }
            for i in hit {
                let _ = dirs[i].1.try_send(());
            }
        }
    });
    Ok(watcher)
}

#[cfg(test)]
mod tests {
    use super::is_source;
    use std::path::Path;

    #[test]
    fn sources() {
        let root = Path::new("/p/svc");
        assert!(is_source(root, Path::new("/p/svc/src/main.rs")));
        assert!(is_source(root, Path::new("/p/svc/main.py")));
        assert!(!is_source(root, Path::new("/p/svc/target/debug/x")));
        assert!(!is_source(root, Path::new("/p/svc/node_modules/micro/index.js")));
        assert!(!is_source(root, Path::new("/p/svc/x.egg-info/PKG-INFO")));
        assert!(!is_source(root, Path::new("/p/svc/Cargo.lock")));
    }
}
