//! `micro`: the command line of the micro toolkit, on the `micro` library alone.
//!
//! See a go-micro mesh (ours and go-micro's) and drive it: list and inspect services, call
//! and stream endpoints, publish, check health and stats, register and deregister by hand,
//! or do all of it in an interactive session (`micro cli`). Output formats follow micro
//! v1.18 (the classic toolkit); exit codes are 0 success, 1 failure, 2 usage.

mod format;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use format::{NodeRow, Stats};
use micro::registry::{self, mdns, memory, Registry, Service};
use micro::{CallOptions, Client, ClientOptions, Error, PublishOptions};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use tokio::sync::OnceCell;

const AFTER_HELP: &str = "\
Registries: `mdns` (go-micro's default; finds services on this host and LAN) or `memory`
(this process only: useful inside `micro cli`). Exit codes: 0 success, 1 failure, 2 usage.

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
        service: String,
        #[arg(hide = true)]
        name: Option<String>,
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

/// Why a command did not succeed, and so its exit code.
#[derive(Debug)]
enum Failure {
    /// The command line was wrong (exit 2).
    Usage(String),
    /// The command ran and failed (exit 1).
    Failed(String),
}

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Failed(_) => 1,
        }
    }
    fn text(&self) -> &str {
        match self {
            Failure::Usage(t) | Failure::Failed(t) => t,
        }
    }
}

type Outcome = Result<(), Failure>;

/// State shared by the commands of one invocation or one interactive session.
struct Session {
    registry_name: String,
    registry_address: Option<String>,
    interactive: bool,
    registry: OnceCell<Arc<dyn Registry>>,
    client: OnceCell<Client>,
    registered: Mutex<Vec<Service>>,
}

impl Session {
    fn new(opts: &Opts, interactive: bool) -> Self {
        let (name, in_url) = match opts.registry.split_once("://") {
            Some((n, rest)) => (n.trim().to_string(), Some(rest.trim().to_string()).filter(|r| !r.is_empty())),
            None => (opts.registry.trim().to_string(), None),
        };
        Session {
            registry_name: if name.is_empty() { "mdns".into() } else { name },
            registry_address: opts.registry_address.clone().or(in_url),
            interactive,
            registry: OnceCell::new(),
            client: OnceCell::new(),
            registered: Mutex::new(Vec::new()),
        }
    }

    async fn registry(&self) -> Result<Arc<dyn Registry>, Failure> {
        self.registry
            .get_or_try_init(|| async {
                if self.registry_address.is_some() && self.registry_name != "etcd" {
                    eprintln!("note: --registry_address is not used by the {} registry", self.registry_name);
                }
                match self.registry_name.as_str() {
                    "etcd" => {
                        let r = micro::registry::etcd::Etcd::from_addresses(self.registry_address.as_deref().unwrap_or(""))
                            .map_err(|e| Failure::Usage(format!("etcd registry: {}", e.detail)))?;
                        Ok(Arc::new(r) as Arc<dyn Registry>)
                    }
                    "mdns" => {
                        let opts = mdns::Options { timeout: Duration::from_millis(200), ..Default::default() };
                        let r = mdns::Mdns::new(opts).await.map_err(|e| Failure::Failed(format!("mdns registry: {}", e.detail)))?;
                        Ok(Arc::new(r) as Arc<dyn Registry>)
                    }
                    "memory" => Ok(Arc::new(memory::Memory::new()) as Arc<dyn Registry>),
                    other => Err(Failure::Usage(format!(
                        "unknown registry {other:?}: choose mdns (go-micro's default), memory or etcd with --registry or MICRO_REGISTRY"
                    ))),
                }
            })
            .await
            .cloned()
    }

    async fn client(&self, opts: &Opts) -> Result<Client, Failure> {
        let registry = self.registry().await?;
        let o = client_options(opts)?;
        Ok(self.client.get_or_init(|| async { Client::new(registry, o) }).await.clone())
    }

    /// A hint for "not found": where we looked and how to look elsewhere.
    fn where_hint(&self) -> String {
        let mut h = format!(
            "looked in the {} registry; choose another with --registry or MICRO_REGISTRY (mdns, memory, etcd), \
             or call a node directly with --address HOST:PORT",
            self.registry_name
        );
        if self.registry_name == "memory" && !self.interactive {
            h.push_str("; the memory registry only holds what this process registered (try `micro cli`)");
        }
        h
    }
}

/// Client options from the flags, with TLS from go-micro-style variables
/// (`MICRO_TRANSPORT_SECURE`, `MICRO_TLS_CA`, `MICRO_TLS_INSECURE`).
fn client_options(opts: &Opts) -> Result<ClientOptions, Failure> {
    let mut o = ClientOptions {
        request_timeout: opts.client_request_timeout * (opts.client_retries + 1),
        conn_timeout: opts.client_request_timeout,
        retries: opts.client_retries,
        ..Default::default()
    };
    let cfg = micro::config::Config::from_env().map_err(|e| Failure::Usage(e.detail))?;
    o.tls = cfg.client_tls().map_err(|e| Failure::Usage(e.detail))?;
    Ok(o)
}

fn call_options(opts: &Opts) -> CallOptions {
    CallOptions {
        address: opts.address.iter().cloned().collect(),
        content_type: Some("application/json".into()),
        timeout: Some(opts.client_request_timeout),
        request_timeout: Some(opts.client_request_timeout * (opts.client_retries + 1)),
        retries: Some(opts.client_retries),
        metadata: opts.metadata.iter().cloned().collect(),
        ..Default::default()
    }
}

/// A client for `opts`: a direct one for --address (no registry needed), else the session's.
async fn client_for(sess: &Session, opts: &Opts) -> Result<Client, Failure> {
    if opts.address.is_some() {
        Ok(Client::with_cache(None, client_options(opts)?))
    } else {
        sess.client(opts).await
    }
}

fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Prints a reply body: indented JSON (json), the bytes as they came (raw).
fn print_body(body: &[u8], output: Output) {
    let mut out = std::io::stdout().lock();
    if output == Output::Raw {
        let _ = out.write_all(body);
        if !body.ends_with(b"\n") {
            let _ = out.write_all(b"\n");
        }
    } else {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(v) => {
                let _ = writeln!(out, "{}", format::pretty(&v));
            }
            Err(_) => {
                let _ = writeln!(out, "{}", String::from_utf8_lossy(body).trim_end());
            }
        }
    }
    let _ = out.flush();
}

/// `error calling S.E: <error json>` plus a line on what to do about it.
fn call_failure(sess: &Session, opts: &Opts, what: &str, e: &Error) -> Failure {
    let mut text = format!("error calling {what}: {e}");
    if e.code == 408 {
        text.push_str(&format!(
            "\nhint: no answer within --client_request_timeout={:?}; raise it (e.g. --client_request_timeout=30s)",
            opts.client_request_timeout
        ));
    } else if e.id == micro::error::CLIENT_ID && e.detail.contains("not found") {
        text.push_str(&format!("\nhint: {}", sess.where_hint()));
    } else if e.id.starts_with(micro::error::CLIENT_ID) && e.detail.contains("refused") {
        text.push_str(
            "\nhint: the node is registered but nothing listens there: it may have stopped without deregistering",
        );
    }
    Failure::Failed(text)
}

fn json_arg(what: &str, parts: &[String], default: &str) -> Result<String, Failure> {
    let text = if parts.is_empty() { default.to_string() } else { parts.join(" ") };
    format::parse_json(what, &text).map_err(Failure::Usage)?;
    Ok(text)
}

async fn lookup(sess: &Session, name: &str) -> Result<Vec<Service>, Failure> {
    let registry = sess.registry().await?;
    let services = registry
        .get_service(name)
        .await
        .map_err(|e| Failure::Failed(format!("{} registry: {}", sess.registry_name, e.detail)))?;
    if services.is_empty() {
        return Err(Failure::Failed(format!("service {name} not found\nhint: {}", sess.where_hint())));
    }
    Ok(services)
}

async fn run(cmd: Cmd, opts: &Opts, sess: &Session) -> Outcome {
    match cmd {
        Cmd::List { what: ListWhat::Services } | Cmd::Services => list(opts, sess).await,
        Cmd::Get { what: GetWhat::Service { name } } => get(&name, opts, sess).await,
        Cmd::Call { service, endpoint, request } => call(&service, &endpoint, &request, opts, sess).await,
        Cmd::Stream { service, endpoint, messages } => stream(&service, &endpoint, messages, opts, sess).await,
        Cmd::Publish { topic, message } => publish(&topic, &message, opts, sess).await,
        Cmd::Health { service, name } => {
            let service = match (service.as_str(), name) {
                ("check", Some(n)) => n,
                (_, Some(extra)) => {
                    return Err(Failure::Usage(format!("health takes one service name, not {service:?} and {extra:?}")))
                }
                (_, None) => service,
            };
            health(&service, opts, sess).await
        }
        Cmd::Stats { service } => stats(&service, opts, sess).await,
        Cmd::Register { what: RegisterWhat::Service { json } } => register(&json, sess).await,
        Cmd::Deregister { what: RegisterWhat::Service { json } } => deregister(&json, sess).await,
        Cmd::Cli => {
            if sess.interactive {
                Err(Failure::Usage("already in an interactive session".into()))
            } else {
                Box::pin(interactive(opts)).await
            }
        }
        Cmd::Completion { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "micro", &mut std::io::stdout());
            Ok(())
        }
    }
}

async fn list(opts: &Opts, sess: &Session) -> Outcome {
    let registry = sess.registry().await?;
    let mut names: Vec<String> = registry
        .list_services()
        .await
        .map_err(|e| Failure::Failed(format!("{} registry: {}", sess.registry_name, e.detail)))?
        .into_iter()
        .map(|s| s.name)
        .collect();
    names.sort();
    names.dedup();
    match opts.output.unwrap_or(Output::Table) {
        Output::Table => {
            if !names.is_empty() {
                print(&names.join("\n"));
            }
        }
        Output::Json => print(&format::pretty(&names)),
        Output::Raw => print(&serde_json::to_string(&names).unwrap_or_default()),
    }
    Ok(())
}

async fn get(name: &str, opts: &Opts, sess: &Session) -> Outcome {
    let services = lookup(sess, name).await?;
    match opts.output.unwrap_or(Output::Table) {
        Output::Table => print(&format!("{}\n", format::service(name, &services))),
        Output::Json => print(&format::pretty(&services)),
        Output::Raw => print(&serde_json::to_string(&services).unwrap_or_default()),
    }
    Ok(())
}

async fn call(service: &str, endpoint: &str, request: &[String], opts: &Opts, sess: &Session) -> Outcome {
    let body = json_arg("the request", request, "{}")?;
    let client = client_for(sess, opts).await?;
    match client.call(service, endpoint, body.into_bytes(), &call_options(opts)).await {
        Ok(reply) => {
            print_body(&reply.body, opts.output.unwrap_or(Output::Json));
            Ok(())
        }
        Err(e) => Err(call_failure(sess, opts, &format!("{service}.{endpoint}"), &e)),
    }
}

/// How long `stream` waits for a reply to one message before sending the next. go-micro
/// servers mix up messages that arrive back to back (a v5 bidi handler answered the last
/// one twice), so messages are paced: the next goes out after a reply, or after this.
const STREAM_PACE: Duration = Duration::from_millis(150);

/// After the last message is sent and a reply has come, this much silence ends the stream.
const STREAM_QUIET: Duration = Duration::from_secs(1);

async fn stream(service: &str, endpoint: &str, messages: Vec<String>, opts: &Opts, sess: &Session) -> Outcome {
    for (i, m) in messages.iter().enumerate() {
        format::parse_json(&format!("message {}", i + 1), m).map_err(Failure::Usage)?;
    }
    let client = client_for(sess, opts).await?;
    let what = format!("{service}.{endpoint}");
    let s =
        client.stream(service, endpoint, &call_options(opts)).await.map_err(|e| call_failure(sess, opts, &what, &e))?;
    let node = s.node().to_string();
    let (mut tx, mut rx) = s.split();
    // The receiving half runs on its own task; its messages come through a channel, which
    // can be waited on with a deadline without losing a half-read message.
    let (fwd, mut replies) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        loop {
            let r = rx.recv().await;
            let last = !matches!(r, Ok(Some(_)));
            if fwd.send(r).is_err() || last {
                return;
            }
        }
    });
    let output = opts.output.unwrap_or(Output::Json);
    let printed = std::cell::Cell::new(false);
    // Prints one reply; Some(outcome) when the stream is over.
    let show = |r: Option<micro::Result<Option<bytes::Bytes>>>| -> Option<Outcome> {
        match r {
            Some(Ok(Some(body))) => {
                print_body(&body, output);
                printed.set(true);
                None
            }
            Some(Ok(None)) | None => Some(Ok(())),
            Some(Err(e)) => Some(Err(Failure::Failed(format!("error receiving from {what}: {e}")))),
        }
    };
    let send_err = |e: Error| Failure::Failed(format!("error sending to {what} on node {node}: {e}"));
    let mut sent = 0usize;
    let mut stdin = (messages.is_empty()).then(|| tokio::io::BufReader::new(tokio::io::stdin()).lines());
    let mut queue = messages.into_iter();
    let finished = 'outer: loop {
        let next = match stdin.as_mut() {
            None => queue.next(),
            Some(lines) => {
                // A person may type slowly: print replies while waiting for the next line.
                let line = loop {
                    tokio::select! {
                        l = lines.next_line() => break l.ok().flatten(),
                        r = replies.recv() => if let Some(done) = show(r) { break 'outer Some(done) },
                    }
                };
                match line {
                    Some(l) if l.trim().is_empty() => continue,
                    Some(l) => {
                        format::parse_json(&format!("stdin message {}", sent + 1), &l).map_err(Failure::Usage)?;
                        Some(l)
                    }
                    None => None,
                }
            }
        };
        let Some(msg) = next else { break None };
        tx.send(msg.into_bytes()).await.map_err(send_err)?;
        sent += 1;
        if let Ok(r) = tokio::time::timeout(STREAM_PACE, replies.recv()).await {
            if let Some(done) = show(r) {
                break Some(done);
            }
        }
    };
    if let Some(done) = finished {
        reader.abort();
        return done;
    }
    tx.close_send().await.map_err(send_err)?;
    // Our servers end a stream with EOS; go-micro servers never do (their client just hangs
    // up). So once something came back, a quiet STREAM_QUIET after the last reply ends the
    // stream normally; only a service that says nothing at all is an error.
    let idle = opts.client_request_timeout;
    let mut got = printed.get();
    let outcome = loop {
        let wait = if got { STREAM_QUIET.min(idle) } else { idle };
        match tokio::time::timeout(wait, replies.recv()).await {
            Ok(r) => {
                if let Some(done) = show(r) {
                    break done;
                }
                got = true;
            }
            Err(_) if got => break Ok(()),
            Err(_) => {
                break Err(Failure::Failed(format!(
                    "error receiving from {what}: node {node} sent nothing within --client_request_timeout={idle:?}"
                )))
            }
        }
    };
    reader.abort();
    drop(tx);
    outcome
}

async fn publish(topic: &str, message: &[String], opts: &Opts, sess: &Session) -> Outcome {
    let body = json_arg("the message", message, "{}")?;
    let registry = sess.registry().await?;
    let url = micro::broker::url_from_env(Some(&opts.broker), opts.broker_address.as_deref());
    let broker = micro::broker::from_url(&url, registry, micro::broker::DEFAULT_MAX_MESSAGE)
        .map_err(|e| Failure::Usage(e.detail))?;
    let client = Client::with_cache(None, client_options(opts)?);
    client.set_broker(Arc::clone(&broker));
    let popts = PublishOptions {
        content_type: Some("application/json".into()),
        metadata: opts.metadata.iter().cloned().collect(),
    };
    let result = client.publish(topic, body.into_bytes(), &popts).await;
    if result.is_ok() && broker.name() == "http" {
        // The http broker posts to subscribers after publish returns: give it a moment.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let _ = broker.disconnect().await;
    match result {
        Ok(()) => {
            print("ok");
            Ok(())
        }
        Err(e) if e.detail.contains("micro.http.broker: not found") => Err(Failure::Failed(format!(
            "error publishing to {topic}: nobody subscribes through the http broker (no micro.http.broker node)\nhint: {}",
            sess.where_hint()
        ))),
        Err(e) => Err(Failure::Failed(format!("error publishing to {topic}: {e}"))),
    }
}

/// Calls `endpoint` on every node of `service` (or the --address node).
async fn per_node(
    service: &str,
    endpoint: &str,
    opts: &Opts,
    sess: &Session,
) -> Result<Vec<(NodeRow, Result<bytes::Bytes, Error>)>, Failure> {
    let targets: Vec<(String, String, String)> = match &opts.address {
        Some(a) => vec![(String::new(), a.clone(), a.clone())],
        None => lookup(sess, service)
            .await?
            .into_iter()
            .flat_map(|s| s.nodes.into_iter().map(move |n| (s.version.clone(), n.id, n.address)))
            .collect(),
    };
    let client = Client::with_cache(None, client_options(opts)?);
    let mut rows = Vec::new();
    for (version, id, address) in targets {
        let mut copts = call_options(opts);
        copts.address = vec![address.clone()];
        copts.retries = Some(0);
        let r = client.call(service, endpoint, &b"{}"[..], &copts).await.map(|r| r.body);
        let reachable = match &r {
            Ok(_) => true,
            // Anything but the client's own failures came from the node: it is there.
            Err(e) => !e.id.starts_with(micro::error::CLIENT_ID),
        };
        rows.push((NodeRow { version, id, address, status: String::new(), reachable, stats: None }, r));
    }
    Ok(rows)
}

async fn health(service: &str, opts: &Opts, sess: &Session) -> Outcome {
    let mut rows = Vec::new();
    for (mut row, r) in per_node(service, "Debug.Health", opts, sess).await? {
        row.status = match r {
            Ok(body) => serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_string))
                .unwrap_or_else(|| "ok".into()),
            Err(_) if row.reachable => "reachable (does not serve Debug.Health)".into(),
            Err(e) => format!("unreachable: {e}"),
        };
        rows.push(row);
    }
    let all_up = rows.iter().all(|r| r.reachable);
    match opts.output.unwrap_or(Output::Table) {
        Output::Table if opts.address.is_some() => {
            print(&rows.iter().map(|r| r.status.clone()).collect::<Vec<_>>().join("\n"))
        }
        Output::Table => print(&format::health(service, &rows)),
        Output::Json => print(&format::pretty(&rows)),
        Output::Raw => print(&serde_json::to_string(&rows).unwrap_or_default()),
    }
    if all_up {
        Ok(())
    } else {
        Err(Failure::Failed(format!(
            "{service}: {} of {} node(s) unreachable",
            rows.iter().filter(|r| !r.reachable).count(),
            rows.len()
        )))
    }
}

async fn stats(service: &str, opts: &Opts, sess: &Session) -> Outcome {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for (mut row, r) in per_node(service, "Debug.Stats", opts, sess).await? {
        match r.map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok().as_ref().and_then(Stats::from_json)) {
            Ok(Some(s)) => {
                row.status = "ok".into();
                row.stats = Some(s);
            }
            Ok(None) => row.status = "Debug.Stats answered with something that is not go-micro's stats".into(),
            Err(e) if row.reachable => row.status = format!("does not serve Debug.Stats: {e}"),
            Err(e) => row.status = format!("unreachable: {e}"),
        }
        if row.stats.is_none() {
            notes.push(format!("node {} ({}): {}", row.id, row.address, row.status));
        }
        rows.push(row);
    }
    match opts.output.unwrap_or(Output::Table) {
        Output::Table => print(&format::stats(service, &rows)),
        Output::Json => print(&format::pretty(&rows)),
        Output::Raw => print(&serde_json::to_string(&rows).unwrap_or_default()),
    }
    for n in &notes {
        eprintln!("note: {n}");
    }
    if rows.iter().any(|r| r.stats.is_some()) {
        Ok(())
    } else {
        Err(Failure::Failed(format!("{service}: no node answered Debug.Stats")))
    }
}

fn service_arg(json: &[String]) -> Result<Service, Failure> {
    let text = json.join(" ");
    format::parse_json("the service", &text).map_err(Failure::Usage)?;
    let mut svc: Service = serde_json::from_str(&text)
        .map_err(|e| Failure::Usage(format!("the service is not go-micro's registry JSON: {e}")))?;
    if svc.version.is_empty() {
        svc.version = "latest".into(); // go-micro's default; mDNS watchers drop empty versions
    }
    if svc.name.is_empty() {
        return Err(Failure::Usage("the service needs a \"name\"".into()));
    }
    if svc.nodes.is_empty() {
        return Err(Failure::Usage(
            "the service needs at least one node: \"nodes\":[{\"id\":…,\"address\":\"host:port\"}]".into(),
        ));
    }
    if let Some(n) = svc.nodes.iter().find(|n| n.id.is_empty() || n.address.is_empty()) {
        return Err(Failure::Usage(format!("every node needs an \"id\" and an \"address\" (host:port); got {n:?}")));
    }
    Ok(svc)
}

async fn register(json: &[String], sess: &Session) -> Outcome {
    let svc = service_arg(json)?;
    let registry = sess.registry().await?;
    // Watch before registering, so a goodbye from `micro deregister` is not missed.
    let hold = !sess.interactive && registry.name() == "mdns";
    let mut watcher = if hold { registry.watch(Some(&svc.name)).await.ok() } else { None };
    registry
        .register(&svc, registry::RegisterOptions::default())
        .await
        .map_err(|e| Failure::Failed(format!("error registering {}: {}", svc.name, e.detail)))?;
    print("ok");
    if sess.interactive {
        sess.registered.lock().unwrap_or_else(|p| p.into_inner()).push(svc);
        return Ok(());
    }
    if !hold {
        eprintln!("note: the {} registry lives in this process only; the registration ends with it (use mdns, or `micro cli`)", registry.name());
        return Ok(());
    }
    eprintln!(
        "registered {} over mDNS: answering for it until Ctrl-C, SIGTERM or `micro deregister service`",
        svc.name
    );
    let ids: Vec<String> = svc.nodes.iter().map(|n| n.id.clone()).collect();
    let goodbye = async {
        match watcher.as_mut() {
            Some(w) => {
                while let Some(ev) = w.next().await {
                    if ev.action == registry::Action::Delete && ev.service.nodes.iter().any(|n| ids.contains(&n.id)) {
                        return;
                    }
                }
                std::future::pending::<()>().await
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = stop_signal() => {}
        _ = goodbye => eprintln!("deregistered by a goodbye from another process"),
    }
    let _ = registry.deregister(&svc).await;
    Ok(())
}

async fn stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

async fn deregister(json: &[String], sess: &Session) -> Outcome {
    let svc = service_arg(json)?;
    let registry = sess.registry().await?;
    let ours = sess.registered.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|s| s.name == svc.name);
    if registry.name() == "mdns" && !ours {
        // mDNS has no central store: the node lives in the process that answers for it. Send
        // the goodbye for it (briefly owning the record, without announcing it), which drops
        // it from every cache and ends a `micro register service` holding it.
        let opts = mdns::Options { announce: false, ..Default::default() };
        let once = mdns::Mdns::new(opts).await.map_err(|e| Failure::Failed(format!("mdns registry: {}", e.detail)))?;
        once.register(&svc, registry::RegisterOptions::default())
            .await
            .map_err(|e| Failure::Failed(format!("error deregistering {}: {}", svc.name, e.detail)))?;
        once.deregister(&svc)
            .await
            .map_err(|e| Failure::Failed(format!("error deregistering {}: {}", svc.name, e.detail)))?;
        once.close().await;
    } else {
        registry
            .deregister(&svc)
            .await
            .map_err(|e| Failure::Failed(format!("error deregistering {}: {}", svc.name, e.detail)))?;
        sess.registered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|s| s.name != svc.name || s.nodes != svc.nodes);
    }
    print("ok");
    Ok(())
}

/// Splits a line into words: spaces separate; a word that starts with ' or " runs to the
/// matching quote (quotes removed, \" and \\ escaped inside "…"); quotes inside a word are
/// kept, so unquoted JSON such as {"name":"x"} stays intact.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' if !in_word => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err("unclosed ' quote".into()),
                    }
                }
            }
            '"' if !in_word => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err("unclosed \" quote".into()),
                        },
                        Some(x) => cur.push(x),
                        None => return Err("unclosed \" quote".into()),
                    }
                }
            }
            x => {
                in_word = true;
                cur.push(x);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

fn interactive_help() -> String {
    let cmd = Cli::command();
    let mut rows: Vec<(String, String)> = cmd
        .get_subcommands()
        .filter(|c| !matches!(c.get_name(), "cli" | "completion" | "help"))
        .map(|c| (c.get_name().to_string(), c.get_about().map(|a| a.to_string()).unwrap_or_default()))
        .collect();
    rows.push(("help".into(), "This help (also ?); `COMMAND --help` for one command".into()));
    rows.push(("quit".into(), "Leave the session (also exit, Ctrl-D)".into()));
    rows.sort();
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let mut out = String::from("Commands:\n");
    for (n, a) in rows {
        out.push_str(&format!("\t{n:width$}\t{}\n", a.lines().next().unwrap_or("")));
    }
    out
}

/// The lines of an interactive session: on a terminal a line editor (rustyline: editing,
/// history kept in `~/.micro_history`, Ctrl-C clears the line, Ctrl-D leaves); from a pipe
/// or a script, plain lines.
enum Lines {
    Editor { editor: Option<rustyline::DefaultEditor>, history: Option<std::path::PathBuf> },
    Piped(tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>),
}

impl Lines {
    fn new(tty: bool) -> Lines {
        let piped = || Lines::Piped(tokio::io::BufReader::new(tokio::io::stdin()).lines());
        if !tty {
            return piped();
        }
        match rustyline::DefaultEditor::new() {
            Ok(mut editor) => {
                let history = std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".micro_history"));
                if let Some(h) = &history {
                    let _ = editor.load_history(h);
                }
                Lines::Editor { editor: Some(editor), history }
            }
            Err(e) => {
                eprintln!("micro: no line editing ({e}); reading plain lines");
                piped()
            }
        }
    }

    /// The next line; `None` at the end of input.
    async fn next(&mut self) -> Option<String> {
        let (slot, history) = match self {
            Lines::Piped(lines) => return lines.next_line().await.ok().flatten(),
            Lines::Editor { editor, history } => (editor, history),
        };
        let mut editor = slot.take()?;
        // The editor blocks on the terminal: off the runtime's workers.
        let (mut editor, read) = tokio::task::spawn_blocking(move || {
            let read = editor.readline("micro> ");
            (editor, read)
        })
        .await
        .ok()?;
        let line = match read {
            Ok(line) => line,
            Err(rustyline::error::ReadlineError::Interrupted) => String::new(),
            Err(_) => return None,
        };
        if !line.trim().is_empty() {
            // Saved as each line is read (a killed session keeps its history), so there is
            // nothing left to save at the end.
            let _ = editor.add_history_entry(line.as_str());
            if let Some(h) = history {
                let _ = editor.save_history(h);
            }
        }
        *slot = Some(editor);
        Some(line)
    }
}

async fn interactive(opts: &Opts) -> Outcome {
    let sess = Session::new(opts, true);
    let tty = std::io::stdin().is_terminal();
    let mut lines = Lines::new(tty);
    let mut failures = 0u32;
    loop {
        let Some(line) = lines.next().await else { break };
        let mut words = match split_words(line.trim()) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("{e}");
                continue;
            }
        };
        match words.first().map(String::as_str) {
            None => continue,
            Some("quit" | "exit") => break,
            Some("help" | "?") => {
                print(&interactive_help());
                continue;
            }
            // `get NAME` works as well as `get service NAME`.
            Some("get") if words.len() == 2 && words[1] != "service" => words.insert(1, "service".into()),
            Some(w)
                if !Cli::command()
                    .get_subcommands()
                    .any(|c| c.get_name() == w || c.get_all_aliases().any(|a| a == w)) =>
            {
                eprintln!("unknown command {w:?}: type help for the list");
                failures += 1;
                continue;
            }
            _ => {}
        }
        let parsed = Cli::try_parse_from(std::iter::once("micro".to_string()).chain(words));
        let cli = match parsed {
            Ok(c) => c,
            Err(e) => {
                let _ = e.print();
                if e.use_stderr() {
                    failures += 1;
                }
                continue;
            }
        };
        // The session keeps its registry; per-line options (--output, --address …) apply.
        let mut line_opts = cli.opts;
        line_opts.registry = opts.registry.clone();
        if let Err(f) = run(cli.cmd, &line_opts, &sess).await {
            eprintln!("{}", f.text());
            failures += 1;
        }
    }
    let held: Vec<Service> = std::mem::take(&mut *sess.registered.lock().unwrap_or_else(|p| p.into_inner()));
    if let Ok(registry) = sess.registry().await {
        for s in held {
            let _ = registry.deregister(&s).await;
        }
    }
    if failures > 0 && !tty {
        return Err(Failure::Failed(format!("{failures} command(s) failed")));
    }
    Ok(())
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
    use super::*;

    #[test]
    fn words_split_like_a_shell() {
        assert_eq!(
            split_words(r#"call greeter Greeter.Hello '{"name": "J o"}'"#).unwrap(),
            vec!["call", "greeter", "Greeter.Hello", r#"{"name": "J o"}"#]
        );
        assert_eq!(split_words(r#"a "b \"c\"" d"#).unwrap(), vec!["a", r#"b "c""#, "d"]);
        assert!(split_words("a 'b").is_err());
        assert_eq!(
            split_words(r#"register service {"name":"foo"}"#).unwrap(),
            vec!["register", "service", r#"{"name":"foo"}"#]
        );
    }

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
