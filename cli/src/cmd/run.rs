//! `micro run [PATH]`: runs a project of services in any of micro's languages, and the
//! commands that look at a running one (`micro run -s`, `-k NAME`, `micro ps`, `micro logs`).
//!
//! The project is the `micro.mu` or `micro.json` in PATH (`project`); without one, PATH
//! itself is the one service, whatever its language. Each service is built with its own
//! tool (`build`), supervised by a task of its own (`supervise`: dependency order, log
//! prefixes, registration, restart with backoff), rebuilt when its files change
//! (`watcher`), and described in `PATH/.micro/run/` (`state`), which the other commands
//! read. The HTTP gateway (`micro api`'s, from micro-gateway) runs beside them on
//! `--address` (127.0.0.1:8080) unless `--no-gateway`.

pub mod build;
pub mod project;
pub mod source;
pub mod state;
pub mod supervise;
pub mod watcher;

use crate::cmd::{print, Failure, Outcome};
use crate::session::{client_builder, Session};
use crate::Opts;
use clap::Args;
use micro_gateway::web::{Dashboard, DashboardOptions};
use micro_gateway::{Gateway, Options as GatewayOptions};
use project::{Project, ServiceDef};
use state::{StateDir, Status};
use std::path::{Path, PathBuf};
use supervise::{Shared, Unit};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// `micro run`'s arguments.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The project directory (holding micro.mu or micro.json), a service's directory, or
    /// a git URL (cloned under ~/.cache/micro/run/).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Update the source first: `git pull --ff-only` in the clone or the git work tree.
    #[arg(short = 'u', long)]
    pub update: bool,
    /// Restart a service that exits, with backoff (1 s, doubling to 30 s).
    #[arg(short = 'r', long)]
    pub restart: bool,
    /// Do not rebuild and restart services when their files change.
    #[arg(long = "no-watch")]
    pub no_watch: bool,
    /// Do not start the HTTP gateway.
    #[arg(long = "no-gateway")]
    pub no_gateway: bool,
    /// The gateway's address (the global --address too, as go-micro's `micro run --address`).
    #[arg(long = "gateway_address", env = "MICRO_GATEWAY_ADDRESS", default_value = "127.0.0.1:8080")]
    pub gateway_address: String,
    /// The project environment whose variables the services get (default: development,
    /// when the project defines it).
    #[arg(short = 'e', long, env = "MICRO_ENV")]
    pub env: Option<String>,
    /// Status of the running `micro run` of PATH: pid, uptime, restarts, registered.
    #[arg(short = 's', long, conflicts_with_all = ["kill", "restart"])]
    pub status: bool,
    /// Stop one service of the running `micro run` of PATH (`all`: stop micro run itself).
    #[arg(short = 'k', long, value_name = "NAME")]
    pub kill: Option<String>,
}

/// `micro logs`'s arguments.
#[derive(Args, Debug, Clone)]
pub struct LogsArgs {
    /// The service.
    pub name: String,
    /// The project directory (default: the current one, or the nearest above it that runs).
    #[arg(long, default_value = ".")]
    pub path: PathBuf,
    /// Keep printing lines as they are written.
    #[arg(short = 'f', long)]
    pub follow: bool,
}

/// Runs `micro run` (or its -s / -k).
pub async fn run(args: &RunArgs, opts: &Opts, sess: &Session) -> Outcome {
    if args.status {
        return ps(&source::local(&args.path.to_string_lossy()));
    }
    if let Some(name) = &args.kill {
        return kill(&source::local(&args.path.to_string_lossy()), name);
    }
    let source = source::resolve(&args.path.to_string_lossy(), args.update)
        .map_err(|e| Failure::Failed(format!("micro run: {}: {e}", args.path.display())))?;
    let root =
        std::fs::canonicalize(&source).map_err(|e| Failure::Usage(format!("micro run: {}: {e}", source.display())))?;
    let project = Project::load(&root).map_err(|e| Failure::Failed(format!("micro run: {e}")))?;
    let (defs, envs) = match project {
        Some(p) => (p.order().map_err(|e| Failure::Failed(format!("micro run: {e}")))?, p.envs),
        None => {
            let name = root.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "service".into());
            (vec![ServiceDef { name, path: ".".into(), ..Default::default() }], Default::default())
        }
    };
    let env_vars = match &args.env {
        Some(e) => envs.get(e).cloned().ok_or_else(|| {
            Failure::Usage(format!(
                "micro run: the project has no environment {e:?} (it has: {})",
                envs.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?,
        None => envs.get("development").cloned().unwrap_or_default(),
    };
    let state = StateDir::of(&root);
    if let Some(running) = state.read_status().filter(|s| s.pid != std::process::id() && state::alive(s.pid)) {
        return Err(Failure::Failed(format!(
            "micro run: already running for {} (pid {}): micro run -k all stops it",
            root.display(),
            running.pid
        )));
    }
    let _ = std::fs::remove_dir_all(&state.0);
    state.create().map_err(|e| Failure::Failed(format!("micro run: {}: {e}", state.0.display())))?;
    let _ = std::fs::write(state.pid_file(), std::process::id().to_string());

    let mut base_env: Vec<(String, String)> = vec![("MICRO_REGISTRY".into(), opts.registry.clone())];
    if let Some(a) = &opts.registry_address {
        base_env.push(("MICRO_REGISTRY_ADDRESS".into(), a.clone()));
    }
    base_env.push(("MICRO_BROKER".into(), opts.broker.clone()));
    if let Some(a) = &opts.broker_address {
        base_env.push(("MICRO_BROKER_ADDRESS".into(), a.clone()));
    }
    base_env.extend(env_vars);
    let mut units = Vec::new();
    for d in &defs {
        let dir = std::fs::canonicalize(root.join(&d.path))
            .map_err(|e| Failure::Failed(format!("micro run: service {}: {}: {e}", d.name, d.path)))?;
        let kind = build::detect(&dir).map_err(|e| Failure::Failed(format!("micro run: service {}: {e}", d.name)))?;
        let mut env = base_env.clone();
        if d.port != 0 {
            env.push(("MICRO_SERVER_ADDRESS".into(), format!(":{}", d.port)));
        }
        units.push(Unit { name: d.name.clone(), dir, kind, env, depends: d.depends.clone() });
    }

    let registry = sess.registry().await?;
    let stop = CancellationToken::new();
    let gateway = if args.no_gateway { None } else { Some(start_gateway(args, opts, sess, stop.clone()).await?) };
    let shared = Shared::new(registry, state.clone(), args.restart, gateway.clone(), &units);
    if let Some(g) = &gateway {
        print(&format!("micro run: gateway on http://{g}"));
    }
    let mut tasks = Vec::new();
    let mut watched = Vec::new();
    for u in &units {
        let (tx, rx) = mpsc::channel(1);
        watched.push((u.dir.clone(), tx));
        tasks.push(tokio::spawn(supervise::supervise(u.clone(), shared.clone(), rx, stop.clone())));
    }
    // Without --no-watch the senders live in the watcher; with it they are kept here, so
    // the supervisors' channels stay open.
    let (_watcher, _senders) = if args.no_watch {
        (None, Some(watched))
    } else {
        let w = watcher::watch(watched).map_err(|e| Failure::Failed(format!("micro run: watching files: {e}")))?;
        (Some(w), None)
    };
    print(&format!("micro run: {} service(s) in {}; state in {}", units.len(), root.display(), state.0.display()));
    micro::wait_for_signal().await;
    print("micro run: stopping");
    stop.cancel();
    for t in tasks {
        let _ = t.await;
    }
    let _ = std::fs::remove_file(state.pid_file());
    Ok(())
}

/// Starts micro api's gateway on --gateway_address; returns the bound address.
async fn start_gateway(
    args: &RunArgs,
    opts: &Opts,
    sess: &Session,
    stop: CancellationToken,
) -> Result<String, Failure> {
    let registry = sess.registry().await?;
    let url = micro::broker::url_from_env(Some(&opts.broker), opts.broker_address.as_deref());
    let client = client_builder(opts)
        .registry(registry.clone())
        .broker_url(url)
        .build()
        .await
        .map_err(|e| Failure::Usage(e.detail))?;
    // The global --address names the gateway's address, as go-micro's `micro run --address`.
    let listen = opts.address.clone().unwrap_or_else(|| args.gateway_address.clone());
    let listen = match listen.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => listen,
    };
    let listener = tokio::net::TcpListener::bind(&listen).await.map_err(|e| {
        Failure::Failed(format!("micro run: gateway: cannot listen on {listen}: {e} (--address, or --no-gateway)"))
    })?;
    let bound = listener.local_addr().map_err(|e| Failure::Failed(e.to_string()))?.to_string();
    // `micro server`'s dashboard and gateway on one listener, without sign-in: a development
    // loop on this machine (127.0.0.1 by default); `micro server` itself signs callers in.
    let gw_opts =
        GatewayOptions { request_timeout: opts.client_request_timeout, enable_rpc: true, ..Default::default() };
    let dashboard = Dashboard::new(Gateway::new(client, registry, gw_opts), DashboardOptions::server());
    tokio::spawn(dashboard.serve(listener, None, stop));
    Ok(bound)
}

/// The state of the `micro run` at or above `path`, if it is running.
fn running(path: &Path) -> Result<(StateDir, Status), Failure> {
    let not = || Failure::Failed(format!("micro run is not running for {}", path.display()));
    let state = StateDir::find(path).ok_or_else(not)?;
    let status = state.read_status().ok_or_else(not)?;
    if !state::alive(status.pid) {
        return Err(not());
    }
    Ok((state, status))
}

fn uptime(started: Option<u64>) -> String {
    let Some(s) = started else { return "-".into() };
    let secs = state::now().saturating_sub(s);
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{}s", secs / 60, secs % 60),
        _ => format!("{}h{}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// `micro ps` / `micro run -s`: one line per service of the running `micro run`.
pub fn ps(path: &Path) -> Outcome {
    let (_, status) = running(path)?;
    let mut out = format!(
        "micro run (pid {}){}\n{:<16} {:<7} {:<13} {:<8} {:<8} {:<8} {:<8} {}",
        status.pid,
        status.gateway.as_deref().map(|g| format!(", gateway http://{g}")).unwrap_or_default(),
        "NAME",
        "LANG",
        "STATE",
        "PID",
        "UPTIME",
        "RESTARTS",
        "RELOADS",
        "REGISTERED"
    );
    for s in &status.services {
        let pid = s.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
        let up = if s.pid.is_some() { uptime(s.started) } else { "-".into() };
        out.push_str(&format!(
            "\n{:<16} {:<7} {:<13} {:<8} {:<8} {:<8} {:<8} {}",
            s.name,
            s.lang,
            s.state,
            pid,
            up,
            s.restarts,
            s.reloads,
            if s.registered { "yes" } else { "no" }
        ));
    }
    print(&out);
    Ok(())
}

/// `micro run -k NAME`: stops one service (it is not restarted); `all` stops micro run.
pub fn kill(path: &Path, name: &str) -> Outcome {
    let (state, status) = running(path)?;
    if name == "all" {
        // micro run stops its services (each in its own process group) on SIGTERM.
        state::signal(status.pid, libc::SIGTERM);
        print(&format!("stopping micro run (pid {})", status.pid));
        return Ok(());
    }
    let svc = status.services.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = status.services.iter().map(|s| s.name.as_str()).collect();
        Failure::Failed(format!("micro run has no service {name:?} (it has: {})", names.join(", ")))
    })?;
    std::fs::write(state.stop_marker(name), b"")
        .map_err(|e| Failure::Failed(format!("micro run -k: {}: {e}", state.0.display())))?;
    match svc.pid {
        Some(pid) => {
            state::signal_group(pid, libc::SIGTERM);
            print(&format!("stopping {name} (pid {pid})"));
        }
        None => print(&format!("{name} is not running ({}); it will not be started", svc.state)),
    }
    Ok(())
}

/// `micro logs NAME`: the service's log file (with -f, followed).
pub async fn logs(args: &LogsArgs) -> Outcome {
    let state = StateDir::find(&args.path)
        .ok_or_else(|| Failure::Failed(format!("no micro run state at or above {}", args.path.display())))?;
    let file = state.log_file(&args.name);
    let mut text = std::fs::read(&file)
        .map_err(|e| Failure::Failed(format!("micro logs: no log for {:?} ({}: {e})", args.name, file.display())))?;
    let mut out = std::io::stdout();
    use std::io::Write;
    let _ = out.write_all(&text);
    let _ = out.flush();
    if !args.follow {
        return Ok(());
    }
    let mut offset = text.len();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        text = std::fs::read(&file).unwrap_or_default();
        if text.len() < offset {
            offset = 0;
        }
        let _ = out.write_all(&text[offset..]);
        let _ = out.flush();
        offset = text.len();
    }
}
