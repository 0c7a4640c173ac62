//! How `micro run` builds and starts a service, by its language, told from the files in
//! its directory: `Cargo.toml` (Rust: `cargo build`, then the binary), `go.mod` (Go: `go
//! build`), `package.json` (Node: `npm install`, then `node` on its main file),
//! `pyproject.toml` / `requirements.txt` / a `main.py` (Python: a `.venv` made with
//! `python3 -m venv`, `pip install`, then its main file). The build's output goes to the
//! service's log through `out`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::SystemTime;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// A service's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Cargo package.
    Rust,
    /// A Go module.
    Go,
    /// A Node package.
    Node,
    /// A Python project or script.
    Python,
}

impl Kind {
    /// Its name, as `micro new --lang` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Rust => "rust",
            Kind::Go => "go",
            Kind::Node => "node",
            Kind::Python => "python",
        }
    }
}

/// Why a service did not build.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No file says what language the directory is in.
    #[error("{0}: no Cargo.toml, go.mod, package.json, pyproject.toml, requirements.txt or main.py")]
    Unknown(PathBuf),
    /// A tool could not be started.
    #[error("cannot run {0}: {1}")]
    Spawn(String, std::io::Error),
    /// A tool failed.
    #[error("{0} failed ({1})")]
    Failed(String, std::process::ExitStatus),
    /// The build left nothing to run.
    #[error("{0}")]
    NothingToRun(String),
}

/// What to execute for a built service.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra variables for it.
    pub env: Vec<(String, String)>,
}

/// The language of the service in `dir`.
pub fn detect(dir: &Path) -> Result<Kind, BuildError> {
    let has = |f: &str| dir.join(f).is_file();
    if has("Cargo.toml") {
        Ok(Kind::Rust)
    } else if has("go.mod") {
        Ok(Kind::Go)
    } else if has("package.json") {
        Ok(Kind::Node)
    } else if has("pyproject.toml") || has("requirements.txt") || python_main(dir).is_some() {
        Ok(Kind::Python)
    } else {
        Err(BuildError::Unknown(dir.to_path_buf()))
    }
}

fn python_main(dir: &Path) -> Option<&'static str> {
    ["main.py", "app.py", "server.py", "__main__.py"].into_iter().find(|f| dir.join(f).is_file())
}

/// Runs `cmd` in `dir`, each line of its stderr (and of stdout unless `keep_stdout`) to
/// `out`; returns stdout when kept.
async fn tool(
    what: &str,
    mut cmd: Command,
    dir: &Path,
    keep_stdout: bool,
    out: &(dyn Fn(&str) + Sync),
) -> Result<String, BuildError> {
    out(&format!("build: {what}"));
    cmd.current_dir(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| BuildError::Spawn(what.to_string(), e))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(BuildError::NothingToRun(format!("{what}: no output pipes")));
    };
    let mut kept = String::new();
    let mut so = BufReader::new(stdout).lines();
    let mut se = BufReader::new(stderr).lines();
    let (mut so_open, mut se_open) = (true, true);
    while so_open || se_open {
        tokio::select! {
            l = so.next_line(), if so_open => match l {
                Ok(Some(l)) if keep_stdout => { kept.push_str(&l); kept.push('\n'); }
                Ok(Some(l)) => out(&l),
                _ => so_open = false,
            },
            l = se.next_line(), if se_open => match l {
                Ok(Some(l)) => out(&l),
                _ => se_open = false,
            },
        }
    }
    let status = child.wait().await.map_err(|e| BuildError::Spawn(what.to_string(), e))?;
    if status.success() {
        Ok(kept)
    } else {
        Err(BuildError::Failed(what.to_string(), status))
    }
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Whether `stamp` is missing or older than any of `inputs` that exist.
fn stale(stamp: &Path, inputs: &[PathBuf]) -> bool {
    match modified(stamp) {
        None => true,
        Some(t) => inputs.iter().filter_map(|i| modified(i)).any(|m| m > t),
    }
}

/// Builds the service in `dir` (binaries go to `bin_dir`), returning what to execute.
pub async fn build(
    kind: Kind,
    dir: &Path,
    name: &str,
    bin_dir: &Path,
    out: &(dyn Fn(&str) + Sync),
) -> Result<Launch, BuildError> {
    match kind {
        Kind::Rust => {
            let mut cmd = Command::new("cargo");
            cmd.args(["build", "--message-format=json-render-diagnostics"]);
            let json = tool("cargo build", cmd, dir, true, out).await?;
            let manifest = std::fs::canonicalize(dir.join("Cargo.toml")).unwrap_or_else(|_| dir.join("Cargo.toml"));
            // The executable of the package in `dir` (not of its dependencies).
            let exe = json
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| v["reason"] == "compiler-artifact")
                .filter(|v| v["manifest_path"].as_str().map(Path::new) == Some(manifest.as_path()))
                .filter_map(|v| v["executable"].as_str().map(PathBuf::from))
                .next_back();
            let program = exe.ok_or_else(|| BuildError::NothingToRun("cargo build made no executable".into()))?;
            Ok(Launch { program, args: Vec::new(), env: Vec::new() })
        }
        Kind::Go => {
            let _ = std::fs::create_dir_all(bin_dir);
            let program = bin_dir.join(name);
            let mut cmd = Command::new("go");
            cmd.arg("build").arg("-o").arg(&program).arg(".");
            tool("go build", cmd, dir, false, out).await?;
            Ok(Launch { program, args: Vec::new(), env: Vec::new() })
        }
        Kind::Node => {
            let stamp = dir.join("node_modules/.micro-run-installed");
            if stale(&stamp, &[dir.join("package.json")]) {
                let mut cmd = Command::new("npm");
                cmd.args(["install", "--no-audit", "--no-fund", "--no-package-lock"]);
                tool("npm install", cmd, dir, false, out).await?;
                let _ = std::fs::write(&stamp, b"");
            }
            let pkg: serde_json::Value = std::fs::read_to_string(dir.join("package.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default();
            let main = pkg["main"]
                .as_str()
                .map(str::to_string)
                .or_else(|| {
                    ["index.js", "server.js", "main.js"].into_iter().find(|f| dir.join(f).is_file()).map(String::from)
                })
                .ok_or_else(|| {
                    BuildError::NothingToRun("package.json names no main and there is no index.js".into())
                })?;
            Ok(Launch { program: "node".into(), args: vec![main], env: Vec::new() })
        }
        Kind::Python => {
            let venv = dir.join(".venv");
            let python = venv.join("bin/python");
            if !python.is_file() {
                let mut cmd = Command::new("python3");
                cmd.args(["-m", "venv", ".venv"]);
                tool("python3 -m venv .venv", cmd, dir, false, out).await?;
            }
            let stamp = venv.join(".micro-run-installed");
            let inputs = [dir.join("pyproject.toml"), dir.join("setup.py"), dir.join("requirements.txt")];
            if stale(&stamp, &inputs) {
                let mut cmd = Command::new(&python);
                cmd.args(["-m", "pip", "install", "-q"]);
                // requirements.txt first: it needs no build backend (and so no index when
                // what it names is installed already); else the project itself.
                let what = if dir.join("requirements.txt").is_file() {
                    cmd.args(["-r", "requirements.txt"]);
                    "pip install -r requirements.txt"
                } else if dir.join("pyproject.toml").is_file() || dir.join("setup.py").is_file() {
                    cmd.args(["-e", "."]);
                    "pip install -e ."
                } else {
                    ""
                };
                if !what.is_empty() {
                    tool(what, cmd, dir, false, out).await?;
                }
                let _ = std::fs::write(&stamp, b"");
            }
            let main =
                python_main(dir).ok_or_else(|| BuildError::NothingToRun("no main.py, app.py or server.py".into()))?;
            Ok(Launch {
                program: python,
                args: vec!["-u".into(), main.into()],
                env: vec![("PYTHONUNBUFFERED".into(), "1".into())],
            })
        }
    }
}
