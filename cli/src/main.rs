//! `micro`: the command line of the micro toolkit, on the `micro` library alone.
//!
//! See a go-micro mesh (ours and go-micro's) and drive it: list and inspect services, call
//! and stream endpoints, publish, check health and stats, register and deregister by hand,
//! or do all of it in an interactive session (`micro cli`). Output formats follow micro
//! v1.18 (the classic toolkit); exit codes are 0 success, 1 failure, 2 usage.
//!
//! This file holds the argument types (clap) and the dispatch from a parsed command to its
//! module: each command lives in `cmd/<command>.rs`, on the shared pieces of `cmd` (failures,
//! printing) and `session` (the registry and client of one invocation); `shell` is the
//! interactive session, which parses each of its lines with these same types.

mod cmd;
mod failure;
mod format;
mod logs;
mod session;
mod shell;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use cmd::{Failure, Outcome};
use session::Session;
use std::process::ExitCode;
use std::time::Duration;

const AFTER_HELP: &str = "\
Registries: `mdns` (go-micro's default; finds services on this host and LAN), `memory`
(this process only: useful inside `micro cli`) or `etcd` (etcd://HOST:PORT[,HOST:PORT]).
Exit codes: 0 success, 1 failure, 2 usage.

Examples:
  micro list services
  micro get service greeter
  micro call greeter Greeter.Hello '{\"name\": \"John\"}'
  micro --address 127.0.0.1:8080 call greeter Greeter.Hello '{}'
  micro health greeter";

/// The `micro` command line.
#[derive(Parser, Debug)]
#[command(
    name = "micro",
    version = concat!("version ", env!("CARGO_PKG_VERSION")),
    about = "See and drive a go-micro mesh: list, get, call, stream, publish, health, stats, register",
    after_help = AFTER_HELP,
    propagate_version = true
)]
struct Cli {
    #[command(flatten)]
    opts: Opts,
    #[command(subcommand)]
    cmd: Cmd,
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    /// JSON, indented with tabs (default for call and stream).
    Json,
    /// Bytes as the service returned them; compact JSON for registry data.
    Raw,
    /// The toolkit's text tables (default for list, get, health, stats).
    Table,
}

/// Global options, with go-micro's names and environment variables.
#[derive(Args, Debug, Clone)]
struct Opts {
    /// Registry: mdns (go-micro's default), memory (this process only), or etcd
    /// (etcd://HOST:PORT[,HOST:PORT], or etcd with --registry_address).
    #[arg(long, env = "MICRO_REGISTRY", default_value = "mdns", global = true)]
    registry: String,
    /// Registry address: etcd members HOST:PORT[,HOST:PORT] (not used by mdns or memory).
    #[arg(long = "registry_address", env = "MICRO_REGISTRY_ADDRESS", global = true)]
    registry_address: Option<String>,
    /// Broker for publish: http (go-micro's default), nats, or a URL such as nats://127.0.0.1:4222.
    #[arg(long, env = "MICRO_BROKER", default_value = "http", global = true)]
    broker: String,
    /// Broker address (e.g. 127.0.0.1:4222 for nats).
    #[arg(long = "broker_address", env = "MICRO_BROKER_ADDRESS", global = true)]
    broker_address: Option<String>,
    /// How long a call may take (Go duration: 500ms, 10s, 1m; or seconds).
    #[arg(long = "client_request_timeout", env = "MICRO_CLIENT_REQUEST_TIMEOUT", default_value = "5s",
          value_parser = parse_timeout, global = true)]
    client_request_timeout: Duration,
    /// Extra attempts on another node when a node refuses the connection.
    #[arg(long = "client_retries", env = "MICRO_CLIENT_RETRIES", default_value_t = 1, global = true)]
    client_retries: u32,
    /// Call this node (host:port) directly instead of asking the registry.
    #[arg(long, env = "MICRO_ADDRESS", global = true)]
    address: Option<String>,
    /// Go through the sidecar (`micro proxy`) at HOST:PORT instead of the registry and broker.
    #[arg(long = "proxy_address", env = "MICRO_PROXY_ADDRESS", global = true)]
    proxy_address: Option<String>,
    /// Metadata sent with calls, streams and publishes, key=value (repeatable).
    #[arg(long, env = "MICRO_METADATA", value_parser = parse_kv, global = true)]
    metadata: Vec<(String, String)>,
    /// Output format: json, raw or table.
    #[arg(long, short = 'o', env = "MICRO_OUTPUT", value_enum, global = true)]
    output: Option<Output>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// List services in the registry.
    #[command(visible_alias = "ls")]
    List {
        #[command(subcommand)]
        what: ListWhat,
    },
    /// List services in the registry (same as `list services`).
    Services,
    /// Show a service: its versions, nodes and endpoints.
    Get {
        #[command(subcommand)]
        what: GetWhat,
    },
    /// Call a service: `call SERVICE ENDPOINT [JSON]` (the JSON may span several arguments).
    #[command(visible_alias = "query")]
    Call {
        /// Service name, e.g. greeter.
        service: String,
        /// Endpoint, e.g. Greeter.Hello.
        endpoint: String,
        /// Request JSON (default {}); several arguments are joined with spaces.
        request: Vec<String>,
    },
    /// Open a stream: each JSON argument (or, with none, each stdin line) is one message;
    /// every reply is printed as it arrives. Ends (exit 0) when the service ends the stream,
    /// or — go-micro services never do — 1 s after the last reply once all input is sent.
    Stream {
        /// Service name.
        service: String,
        /// Stream endpoint, e.g. Greeter.Stream.
        endpoint: String,
        /// Messages, one JSON value per argument; none: read JSON lines from stdin.
        messages: Vec<String>,
    },
    /// Publish a JSON message on a topic through the broker (--broker).
    Publish {
        /// Topic.
        topic: String,
        /// Message JSON; several arguments are joined with spaces.
        #[arg(required = true)]
        message: Vec<String>,
    },
    /// Check each node of a service: Debug.Health where served, else whether it is reachable.
    Health {
        /// Service name (`health check NAME` is accepted too).
        #[arg(required_unless_present_any = ["check_service", "check_address"])]
        service: Option<String>,
        #[arg(hide = true)]
        name: Option<String>,
        /// Serve `GET /health` instead (the classic health sidecar) for this service's node at
        /// --check_address, on --address (MICRO_HEALTH_ADDRESS, default :8088).
        #[arg(long = "check_service", env = "MICRO_HEALTH_CHECK_SERVICE")]
        check_service: Option<String>,
        /// With --check_service: the node whose Debug.Health `/health` reports.
        #[arg(long = "check_address", env = "MICRO_HEALTH_CHECK_ADDRESS")]
        check_address: Option<String>,
    },
    /// Show Debug.Stats of each node of a service (nodes that do not serve it show empty fields).
    Stats {
        /// Service name.
        service: String,
    },
    /// Register a service from its registry JSON. With mdns the registration lives only while
    /// a process answers for it: this command keeps answering until Ctrl-C / SIGTERM (or a
    /// `micro deregister service` of the same node), then says goodbye.
    Register {
        #[command(subcommand)]
        what: RegisterWhat,
    },
    /// Deregister a service from its registry JSON. With mdns this sends the goodbye for its
    /// nodes, which also ends a `micro register service` that holds them.
    Deregister {
        #[command(subcommand)]
        what: RegisterWhat,
    },
    /// The HTTP gateway into the mesh: `POST /greeter/Greeter.Hello`, `/greeter/say/hello`,
    /// `GET /` lists services; until Ctrl-C.
    Api(Box<cmd::api::ApiArgs>),
    /// The dashboard (services, live registry, call forms, API docs, terminal) and the
    /// classic reverse proxy `/[name]/…` → `go.micro.web.[name]`, on :8082; until Ctrl-C.
    Web(Box<cmd::web::WebArgs>),
    /// The dashboard and the api gateway on one listener (:8080), as go-micro v5's
    /// `micro server`; until Ctrl-C.
    Server(Box<cmd::server::ServerArgs>),
    /// Write a new service: `micro new NAME --lang rust|python|node|go`.
    New(cmd::new::NewArgs),
    /// Run a project (micro.mu / micro.json) or the service in PATH: build, start in
    /// dependency order, reload on change; `-s` status, `-k NAME` stop.
    Run(Box<cmd::run::RunArgs>),
    /// The services of the running `micro run` of PATH.
    Ps {
        /// The project directory.
        #[arg(default_value = ".")]
        path: std::path::PathBuf,
    },
    /// A service's log under the running `micro run`.
    Logs(cmd::run::LogsArgs),
    /// The registry's endpoints as Model Context Protocol tools: serve, list, test.
    Mcp {
        #[command(subcommand)]
        cmd: cmd::mcp::McpCmd,
    },
    /// The sidecar: the mesh over HTTP on :8081 (/registry, /broker, /rpc, /[service]/[method])
    /// and, with --server_name and --server_address, the program beside it registered.
    #[command(visible_alias = "sidecar")]
    Proxy(Box<cmd::proxy::ProxyArgs>),
    /// Chat-ops: answer `ping`, `list services`, `call …`, `help` and commands served by
    /// `go.micro.bot.*` services in Slack (Socket Mode); until Ctrl-C.
    Bot(Box<cmd::bot::BotArgs>),
    /// Interactive session: `micro> ` prompt, the same commands, one registry for the session.
    Cli,
    /// Print a shell completion script: bash, zsh, fish, elvish, powershell.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug)]
enum ListWhat {
    /// Service names, sorted, one per line.
    Services,
}

#[derive(Subcommand, Debug)]
enum GetWhat {
    /// One service.
    Service {
        /// Service name.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum RegisterWhat {
    /// A service, as go-micro's registry JSON:
    /// '{"name":"foo","version":"1","nodes":[{"id":"foo-1","address":"127.0.0.1:8080"}]}'.
    Service {
        /// Service JSON; several arguments are joined with spaces.
        #[arg(required = true)]
        json: Vec<String>,
    },
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    micro::config::parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration: use e.g. 500ms, 10s, 1m"))
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not key=value")),
    }
}

/// Runs one parsed command: a whole invocation of `micro`, or one line of `micro cli`.
async fn run(cmd: Cmd, opts: &Opts, sess: &Session) -> Outcome {
    match cmd {
        Cmd::List { what: ListWhat::Services } | Cmd::Services => cmd::list::run(opts, sess).await,
        Cmd::Get { what: GetWhat::Service { name } } => cmd::get::run(&name, opts, sess).await,
        Cmd::Call { service, endpoint, request } => cmd::call::run(&service, &endpoint, &request, opts, sess).await,
        Cmd::Stream { service, endpoint, messages } => {
            cmd::stream::run(&service, &endpoint, messages, opts, sess).await
        }
        Cmd::Publish { topic, message } => cmd::publish::run(&topic, &message, opts, sess).await,
        Cmd::Health { check_service, check_address, .. } if check_service.is_some() || check_address.is_some() => {
            let Some(service) = check_service.filter(|s| !s.is_empty()) else {
                return Err(Failure::Usage(
                    "service name not set: --check_service (MICRO_HEALTH_CHECK_SERVICE)".into(),
                ));
            };
            let Some(address) = check_address.filter(|a| !a.is_empty()) else {
                return Err(Failure::Usage(
                    "service address not set: --check_address (MICRO_HEALTH_CHECK_ADDRESS)".into(),
                ));
            };
            cmd::health::serve(&service, &address, opts).await
        }
        Cmd::Health { service, name, .. } => {
            let service = service.unwrap_or_default();
            let service = match (service.as_str(), name) {
                ("check", Some(n)) => n,
                (_, Some(extra)) => {
                    return Err(Failure::Usage(format!("health takes one service name, not {service:?} and {extra:?}")))
                }
                (_, None) => service,
            };
            cmd::health::run(&service, opts, sess).await
        }
        Cmd::Stats { service } => cmd::stats::run(&service, opts, sess).await,
        Cmd::Register { what: RegisterWhat::Service { json } } => cmd::register::run(&json, sess).await,
        Cmd::Deregister { what: RegisterWhat::Service { json } } => cmd::deregister::run(&json, sess).await,
        Cmd::Api(args) => cmd::api::run(&args, opts, sess).await,
        Cmd::Web(args) => cmd::web::run(&args, opts, sess).await,
        Cmd::Server(args) => cmd::server::run(&args, opts, sess).await,
        Cmd::New(args) => cmd::new::run(&args),
        Cmd::Run(args) => cmd::run::run(&args, opts, sess).await,
        Cmd::Ps { path } => cmd::run::ps(&path),
        Cmd::Logs(args) => cmd::run::logs(&args).await,
        Cmd::Mcp { cmd } => cmd::mcp::run(&cmd, opts, sess).await,
        Cmd::Proxy(args) => cmd::proxy::run(&args, opts, sess).await,
        Cmd::Bot(args) => cmd::bot::run(&args, opts).await,
        Cmd::Cli => {
            if sess.interactive {
                Err(Failure::Usage("already in an interactive session".into()))
            } else {
                Box::pin(shell::run(opts)).await
            }
        }
        Cmd::Completion { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "micro", &mut std::io::stdout());
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("micro: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // The sidecar also announces its own events (registrations, health) by default.
    logs::init(if matches!(cli.cmd, Cmd::Proxy(_)) { "warn,micro::proxy=info" } else { "warn" });
    let sess = Session::new(&cli.opts, false);
    let outcome = rt.block_on(run(cli.cmd, &cli.opts, &sess));
    rt.shutdown_timeout(Duration::from_millis(200));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("{}", f.text());
            ExitCode::from(f.code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Cli, Output};
    use clap::{CommandFactory, Parser};
    use std::time::Duration;

    #[test]
    fn cli_parses_toolkit_flags() {
        let c = Cli::try_parse_from([
            "micro",
            "--client_request_timeout",
            "250ms",
            "--metadata",
            "X-A=1",
            "call",
            "s",
            "E.m",
            "{}",
            "-o",
            "raw",
        ])
        .unwrap();
        assert_eq!(c.opts.client_request_timeout, Duration::from_millis(250));
        assert_eq!(c.opts.metadata, vec![("X-A".to_string(), "1".to_string())]);
        assert_eq!(c.opts.output, Some(Output::Raw));
        assert!(Cli::try_parse_from(["micro", "--metadata", "nokey", "services"]).is_err());
        assert!(Cli::try_parse_from(["micro", "query", "s", "E.m"]).is_ok());
        Cli::command().debug_assert();
    }
}
