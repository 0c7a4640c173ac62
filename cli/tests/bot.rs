//! `micro bot` (the built binary) against a stand-in for Slack on loopback — real Slack is
//! out of reach here — written in this test: the Web API (`auth.test`,
//! `apps.connections.open`, `chat.postMessage`, each checking its token) on hyper, and the
//! Socket Mode websocket on tokio-tungstenite (`hello`, `events_api` envelopes that must be
//! acknowledged, `disconnect`). Over mDNS inside `scripts/netns.sh`, with a Rust greeter and
//! a command service (`go.micro.bot.weather`, go-micro's `Command` handler) in this process.
//!
//! Every step waits for an event (an acknowledgement, an answer posted, a socket opened),
//! never for time to pass; what must not be answered is checked by there being no answer
//! left over at the end, after many answered round trips.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use micro::Service;
use micro_interop::in_netns;
use serde::Deserialize;
use serde_json::{json, Value};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::WebSocketStream;

const BOT_TOKEN: &str = "xoxb-stand-in";
const APP_TOKEN: &str = "xapp-stand-in";

/// `fut`, or a panic naming `what` after `secs`.
async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: nothing within {secs} s"),
    }
}

/// A connection the stand-in accepted: TCP, or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A Socket Mode connection on the stand-in's side.
type Socket = WebSocketStream<Box<dyn Io>>;

/// `tcp`, through a TLS handshake when the stand-in has a certificate.
async fn accept(tcp: TcpStream, tls: &Option<TlsAcceptor>) -> Option<Box<dyn Io>> {
    match tls {
        None => Some(Box::new(tcp)),
        Some(acceptor) => acceptor.accept(tcp).await.ok().map(|t| Box::new(t) as Box<dyn Io>),
    }
}

/// The stand-in for Slack: where its Web API is, the sockets the bot opens, the answers it posts.
struct StandIn {
    api_url: String,
    sockets: mpsc::UnboundedReceiver<Socket>,
    posts: mpsc::UnboundedReceiver<Value>,
    opened: Arc<AtomicUsize>,
}

impl StandIn {
    /// A stand-in over plain HTTP and `ws://`.
    async fn start() -> StandIn {
        StandIn::start_with(None).await
    }

    /// A stand-in over HTTPS and `wss://` with `tls`, or plain without.
    async fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> StandIn {
        let tls = tls.map(TlsAcceptor::from);
        let scheme = if tls.is_some() { "s" } else { "" };
        let ws_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind socket mode");
        let ws_url = format!("ws{scheme}://{}", ws_listener.local_addr().expect("addr"));
        let (sock_tx, sockets) = mpsc::unbounded_channel();
        let ws_tls = tls.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = ws_listener.accept().await {
                let Some(io) = accept(tcp, &ws_tls).await else { continue };
                let Ok(mut ws) = tokio_tungstenite::accept_async(io).await else { continue };
                let hello = json!({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}});
                if ws.send(Frame::text(hello.to_string())).await.is_ok() {
                    let _ = sock_tx.send(ws);
                }
            }
        });
        let api_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind web api");
        let api_url = format!("http{scheme}://{}/api/", api_listener.local_addr().expect("addr"));
        let (post_tx, posts) = mpsc::unbounded_channel();
        let opened = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&opened);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = api_listener.accept().await {
                let (post_tx, count, ws_url, tls) = (post_tx.clone(), Arc::clone(&count), ws_url.clone(), tls.clone());
                tokio::spawn(async move {
                    let Some(io) = accept(tcp, &tls).await else { return };
                    let service = hyper::service::service_fn(move |req| {
                        web_api(req, ws_url.clone(), post_tx.clone(), Arc::clone(&count))
                    });
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service).await;
                });
            }
        });
        StandIn { api_url, sockets, posts, opened }
    }
}

/// The next socket the bot opens (the stand-in has sent it `hello`).
async fn next_socket(sockets: &mut mpsc::UnboundedReceiver<Socket>) -> Socket {
    within(30, "the bot opening a Socket Mode connection", sockets.recv()).await.expect("socket")
}

/// Slack's Web API, as far as the bot uses it: the bot token for `auth.test` and
/// `chat.postMessage` (a JSON body), the app token for `apps.connections.open`.
async fn web_api(
    req: Request<Incoming>,
    ws_url: String,
    posts: mpsc::UnboundedSender<Value>,
    opened: Arc<AtomicUsize>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (auth, content_type) = (header("authorization"), header("content-type"));
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let bot = auth == format!("Bearer {BOT_TOKEN}");
    let refused = json!({"ok": false, "error": "invalid_auth"});
    let answer = match path.as_str() {
        "/api/auth.test" if bot => {
            json!({"ok": true, "url": "https://stand-in.slack.com/", "team": "T", "user": "microbot", "team_id": "T1", "user_id": "UBOT", "bot_id": "BBOT"})
        }
        "/api/apps.connections.open" if auth == format!("Bearer {APP_TOKEN}") => {
            let n = opened.fetch_add(1, Ordering::SeqCst) + 1;
            json!({"ok": true, "url": format!("{ws_url}/link/?ticket=t{n}&app_id=A1")})
        }
        "/api/chat.postMessage" if bot && content_type.starts_with("application/json") => {
            match serde_json::from_slice::<Value>(&body) {
                Ok(v) => {
                    let _ = posts.send(v);
                    json!({"ok": true, "ts": "1.1"})
                }
                Err(_) => json!({"ok": false, "error": "invalid_json"}),
            }
        }
        "/api/auth.test" | "/api/apps.connections.open" | "/api/chat.postMessage" => refused,
        _ => json!({"ok": false, "error": "unknown_method"}),
    };
    Ok(Response::new(Full::new(Bytes::from(answer.to_string()))))
}

/// Slack's side of the conversation: envelopes out on the current socket, acknowledgements
/// in, and the answers the bot posts.
struct Chat {
    ws: Option<Socket>,
    posts: mpsc::UnboundedReceiver<Value>,
    envelopes: usize,
    ts: u64,
}

impl Chat {
    /// The current socket.
    fn ws(&mut self) -> &mut Socket {
        self.ws.as_mut().expect("a socket")
    }

    /// The next text frame from the bot, as JSON.
    async fn frame(&mut self) -> Value {
        loop {
            match within(10, "a frame from the bot", self.ws().next()).await {
                Some(Ok(Frame::Text(t))) => return serde_json::from_str(t.as_str()).expect("a JSON frame"),
                Some(Ok(_)) => continue,
                other => panic!("the bot's socket ended: {other:?}"),
            }
        }
    }

    /// Sends `envelope` with a fresh `envelope_id` and checks that the bot acknowledges it.
    async fn envelope(&mut self, mut envelope: Value) {
        self.envelopes += 1;
        let id = format!("env-{}", self.envelopes);
        envelope["envelope_id"] = json!(id);
        self.ws().send(Frame::text(envelope.to_string())).await.expect("send envelope");
        assert_eq!(self.frame().await, json!({"envelope_id": id}), "the acknowledgement of {envelope}");
    }

    /// Sends `event` (a `ts` added when it has none) in an `events_api` envelope.
    async fn event(&mut self, mut event: Value) {
        if event.get("ts").is_none() {
            self.ts += 1;
            event["ts"] = json!(format!("{}.000100", self.ts));
        }
        self.envelope(json!({"type": "events_api", "accepts_response_payload": false, "retry_attempt": 0,
            "payload": {"type": "event_callback", "team_id": "T1", "event": event}}))
            .await;
    }

    /// The next answer the bot posts.
    async fn answer(&mut self) -> Value {
        within(20, "an answer posted by the bot", self.posts.recv()).await.expect("answer")
    }

    /// Alice says `text` in `channel`; the bot's answer there: its text.
    async fn ask(&mut self, channel: &str, text: &str) -> String {
        self.event(json!({"type": "message", "user": "UALICE", "channel": channel, "text": text})).await;
        let a = self.answer().await;
        assert_eq!(a["channel"], channel, "{a}");
        assert!(a.get("thread_ts").is_none(), "{a}");
        a["text"].as_str().expect("text").to_string()
    }

    /// Asks `text` in a direct message until the answer satisfies `ok` (what the registry
    /// shows may take a moment), for up to 20 s; the last answer.
    async fn ask_until(&mut self, text: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let a = self.ask("D1", text).await;
            if ok(&a) {
                return a;
            }
            assert!(Instant::now() < deadline, "{text:?} never answered as expected; last: {a:?}");
        }
    }
}

/// The `micro bot` process; killed on drop. Its output goes to this test's stderr, and
/// stdout and stderr are kept for checks.
struct Bot {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Bot {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Bot {
        let mut child = micro()
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start micro bot");
        let out = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for (pipe, tag) in [(Box::new(stdout) as Box<dyn std::io::Read + Send>, "out"), (Box::new(stderr), "err")] {
            let out = Arc::clone(&out);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    eprintln!("bot {tag}| {line}");
                    out.lock().unwrap_or_else(|p| p.into_inner()).push_str(&format!("{line}\n"));
                }
            });
        }
        Bot { child, out }
    }

    fn output(&self) -> String {
        self.out.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `micro` binary with none of the bot's variables from the environment.
fn micro() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_micro"));
    for v in [
        "MICRO_REGISTRY",
        "MICRO_BOT_INPUTS",
        "MICRO_BOT_NAMESPACE",
        "MICRO_SLACK_TOKEN",
        "MICRO_SLACK_APP_TOKEN",
        "MICRO_SLACK_API_URL",
        "MICRO_SLACK_DEBUG",
    ] {
        c.env_remove(v);
    }
    c
}

#[derive(Deserialize)]
struct Hello {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct ExecRequest {
    #[serde(default)]
    args: Vec<String>,
}

/// The services of the conversation, on mDNS: a greeter, the command service
/// `go.micro.bot.weather` (Exec answers its arguments, as proto3 JSON: bytes in base64), and
/// `go.micro.bot.echo`, which the built-in `echo` must shadow.
async fn services(greeter: &str) -> Vec<Service> {
    let build = |name: &str| Service::builder(name).address("127.0.0.1:0").registry_url("mdns").build();
    let g = build(greeter).await.expect("greeter");
    g.server()
        .handle_json("Greeter.Hello", |r: Hello, _| async move { Ok(json!({"message": format!("Hello {}", r.name)})) });
    let weather = build("go.micro.bot.weather").await.expect("weather");
    weather.server().handle_json("Command.Help", |_: Value, _| async {
        Ok(json!({"usage": "weather [city]", "description": "Returns the weather"}))
    });
    weather.server().handle_json("Command.Exec", |r: ExecRequest, _| async move {
        use base64::Engine;
        Ok(match r.args.get(1).map(String::as_str) {
            Some("fail") => json!({"error": "no weather for fail"}),
            _ => json!({"result": base64::engine::general_purpose::STANDARD.encode(r.args.join(" "))}),
        })
    });
    let echo = build("go.micro.bot.echo").await.expect("echo");
    echo.server().handle_json("Command.Help", |_: Value, _| async {
        Ok(json!({"usage": "echo [x]", "description": "Shadowed"}))
    });
    echo.server().handle_json("Command.Exec", |_: ExecRequest, _| async { Ok(json!({"result": "c2hhZG93ZWQ="})) });
    for s in [&g, &weather, &echo] {
        s.start().await.expect("start");
    }
    vec![g, weather, echo]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_answers_in_slack_over_socket_mode() {
    if !in_netns("bot_answers_in_slack_over_socket_mode") {
        return;
    }
    let pid = std::process::id();
    let greeter = format!("bot.greeter.{pid}");
    let running = services(&greeter).await;
    let (greeter_id, greeter_addr) =
        (running[0].server().id().to_string(), running[0].server().advertised().expect("advertised"));
    let StandIn { api_url, mut sockets, posts, opened } = StandIn::start().await;
    let bot = Bot::start(
        &["bot", "--inputs=slack", "--slack_api_url", &api_url],
        &[("MICRO_SLACK_TOKEN", BOT_TOKEN), ("MICRO_SLACK_APP_TOKEN", APP_TOKEN)],
    );
    let ws = next_socket(&mut sockets).await;
    let mut chat = Chat { ws: Some(ws), posts, envelopes: 0, ts: 0 };

    // Who is addressed: a direct message, a mention, the bot's name; answers in a channel
    // name the asker; in a thread they stay in the thread.
    assert_eq!(chat.ask("D1", "ping").await, "pong");
    assert_eq!(chat.ask("C1", "<@UBOT> ping").await, "<@UALICE>: pong");
    assert_eq!(chat.ask("C1", "microbot: hello").await, "<@UALICE>: hey what's up?");
    assert_eq!(chat.ask("C1", "Microbot ping").await, "<@UALICE>: pong");
    chat.event(
        json!({"type": "message", "user": "UALICE", "channel": "C1", "text": "<@UBOT> ping", "thread_ts": "42.000001"}),
    )
    .await;
    let a = chat.answer().await;
    assert_eq!(
        (a["channel"].as_str(), a["text"].as_str(), a["thread_ts"].as_str()),
        (Some("C1"), Some("<@UALICE>: pong"), Some("42.000001"))
    );

    // Not addressed, the bot's own, edits: acknowledged, never answered. A mention that comes
    // as both `message` and `app_mention` is answered once.
    chat.event(json!({"type": "message", "user": "UALICE", "channel": "C1", "text": "echo ignored-not-addressed"}))
        .await;
    chat.event(json!({"type": "message", "user": "UBOT", "channel": "D1", "text": "echo ignored-own"})).await;
    chat.event(
        json!({"type": "message", "user": "UOTHER", "bot_id": "BBOT", "channel": "D1", "text": "echo ignored-own-bot"}),
    )
    .await;
    chat.event(json!({"type": "message", "subtype": "message_changed", "channel": "D1", "message": {"text": "echo ignored-edit"}}))
        .await;
    chat.envelope(json!({"type": "slash_commands", "payload": {"command": "/micro", "text": "echo ignored-slash"}}))
        .await;
    chat.event(
        json!({"type": "message", "user": "UALICE", "channel": "C2", "text": "<@UBOT> echo once", "ts": "77.000001"}),
    )
    .await;
    let a = chat.answer().await;
    assert_eq!((a["channel"].as_str(), a["text"].as_str()), (Some("C2"), Some("<@UALICE>: once")));
    chat.event(json!({"type": "app_mention", "user": "UALICE", "channel": "C2", "text": "<@UBOT> echo once", "ts": "77.000001"}))
        .await;

    // Built-ins.
    assert_eq!(chat.ask("D1", "echo a &amp; b &lt;c&gt;").await, "a &amp; b &lt;c&gt;");
    let t = chat.ask("D1", "time").await;
    assert!(t.starts_with("Server time is: ") && t.ends_with(" UTC") && t.len() == 45, "{t:?}");
    assert!(chat.ask("D1", "the three laws").await.starts_with("1. A robot may not injure a human being"));
    assert_eq!(chat.ask("D1", "list").await, "list what?");
    assert_eq!(chat.ask("D1", "list nodes").await, "unknown command...\nsupported commands: \nlist services");
    assert!(chat.ask("D1", "frobnicate now").await.starts_with("unknown command \"frobnicate\""));

    // help: the built-ins' lines, then the command services' (echo's is shadowed).
    let help = chat.ask_until("help", |h| h.contains("weather")).await;
    assert!(
        help.starts_with("\n\ncall [service] [endpoint] [request] - Returns the response for a service call\n"),
        "{help:?}"
    );
    assert!(
        help.contains("\nping - Returns pong\n") && help.contains("\nhelp - Displays help for all known commands\n"),
        "{help:?}"
    );
    assert!(help.ends_with("\ntime - Returns the server time\nweather [city] - Returns the weather"), "{help:?}");
    assert!(!help.contains("Shadowed"), "{help:?}");

    // The registry, through the CLI's own commands: the bot (go.micro.bot), this test's services.
    let services = chat
        .ask_until("list services", |l| l.lines().any(|n| n == greeter) && l.lines().any(|n| n == "go.micro.bot"))
        .await;
    assert!(services.lines().any(|n| n == "go.micro.bot.weather"), "{services}");
    let got = chat.ask("D1", &format!("get service {greeter}")).await;
    assert!(
        got.starts_with(&format!(
            "service  {greeter}\n\nversion latest\n\nID\tAddress\tMetadata\n{greeter_id}\t{greeter_addr}\t"
        )),
        "{got:?}"
    );
    let health = chat.ask("D1", &format!("health {greeter}")).await;
    assert!(health.contains(&format!("{greeter_id}\t\t{greeter_addr}\t\tok")), "{health:?}");
    assert_eq!(chat.ask("D1", &format!("health check {greeter}")).await, health);
    assert_eq!(
        chat.ask("C1", &format!("<@UBOT> call {greeter} Greeter.Hello {{\"name\": \"John\"}}")).await,
        "<@UALICE>: {\n\t\"message\": \"Hello John\"\n}"
    );
    assert_eq!(
        chat.ask("D1", &format!("call {greeter} Greeter.Hello {{\u{201c}name\u{201d}: \u{201c}Curly\u{201d}}}")).await,
        "{\n\t\"message\": \"Hello Curly\"\n}"
    );
    let failed = chat.ask("D1", &format!("call {greeter} Greeter.Nope {{}}")).await;
    assert!(failed.starts_with(&format!("error executing cmd: error calling {greeter}.Greeter.Nope: ")), "{failed:?}");

    // A command served by a service, and its error.
    assert_eq!(chat.ask("D1", "weather london").await, "weather london");
    assert_eq!(chat.ask("C1", "<@UBOT> Weather fail").await, "<@UALICE>: error executing cmd: no weather for fail");

    // register / deregister service: held by the bot, seen by list services.
    let reg = format!("bot.reg.{pid}");
    let def = format!(r#"{{"name":"{reg}","version":"1","nodes":[{{"id":"{reg}-1","address":"127.0.0.1:9"}}]}}"#);
    assert_eq!(chat.ask("D1", &format!("register service {def}")).await, "ok");
    chat.ask_until("list services", |l| l.lines().any(|n| n == reg)).await;
    assert_eq!(chat.ask("D1", &format!("deregister service {def}")).await, "ok");
    chat.ask_until("list services", |l| !l.lines().any(|n| n == reg)).await;

    // Slack asks for a reconnect: the bot closes this socket and opens another.
    let disconnect = json!({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "stand-in"}});
    chat.ws().send(Frame::text(disconnect.to_string())).await.expect("send disconnect");
    within(10, "the bot closing the old socket", async {
        while let Some(Ok(frame)) = chat.ws().next().await {
            if let Frame::Close(_) = frame {
                break;
            }
        }
    })
    .await;
    chat.ws = Some(next_socket(&mut sockets).await);
    assert_eq!(chat.ask("D1", "ping").await, "pong");

    // The socket breaks (closed without a close frame): the bot connects again.
    chat.ws = None;
    chat.ws = Some(next_socket(&mut sockets).await);
    assert_eq!(chat.ask("D1", "ping").await, "pong");
    assert_eq!(opened.load(Ordering::SeqCst), 3);

    // Nothing was answered that should not have been.
    assert!(chat.posts.try_recv().is_err(), "an unexpected answer");
    drop(chat);

    // Its log says why it connected again, each time. Dropping the chat broke the third socket
    // too, so a third reconnect line may follow: every one is one of the two causes.
    let out = within(10, "the bot's log of both reconnects", async {
        loop {
            let out = bot.output();
            if out.matches("[loop] slack").count() >= 2 {
                break out;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(out.contains("micro bot: slack connected as microbot (UBOT)"), "{out}");
    assert_eq!(out.matches("the service asked to reconnect (refresh_requested)").count(), 1, "{out}");
    assert!(
        out.lines()
            .filter(|l| l.starts_with("[loop] slack"))
            .all(|l| l.contains("refresh_requested") || l.contains("Connection reset without closing handshake")),
        "{out}"
    );

    // SIGTERM: the bot deregisters and exits 0.
    stop(bot);
    for s in running {
        let _ = s.stop().await;
    }
}

fn stop(mut bot: Bot) {
    let pid = bot.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = bot.child.try_wait().expect("wait") {
            break st;
        }
        assert!(Instant::now() < deadline, "micro bot did not end after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}\n{}", bot.output());
}

/// `micro ARGS…` with `env` → (exit code, stdout, stderr).
fn micro_out(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = micro().args(args).envs(env.iter().copied()).stdin(Stdio::null()).output().expect("run micro");
    let (o, e) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    eprintln!("$ micro {}\n-> {:?}\n{o}{e}", args.join(" "), out.status.code());
    (out.status.code().unwrap_or(-1), o, e)
}

/// What cannot run says why and exits 1: no input, an unknown one, HipChat (gone), Discord
/// and Telegram (not yet), Slack without its tokens or with tokens Slack refuses. The token
/// values never show in `--help`. The memory registry: no mDNS needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_says_why_it_cannot_run() {
    let StandIn { api_url, .. } = StandIn::start().await;
    tokio::task::spawn_blocking(move || {
        let mem = ["--registry", "memory", "bot"];
        fn with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
            [&["--registry", "memory", "bot"][..], extra].concat()
        }
        let tokens = [("MICRO_SLACK_TOKEN", BOT_TOKEN), ("MICRO_SLACK_APP_TOKEN", APP_TOKEN)];

        let (c, _, e) = micro_out(&mem, &[]);
        assert_eq!(c, 1);
        assert!(e.contains("--inputs=slack") && e.contains("MICRO_BOT_INPUTS"), "{e}");
        let (c, _, e) = micro_out(&mem, &[("MICRO_BOT_INPUTS", "irc")]);
        assert_eq!(c, 1);
        assert!(e.contains("unknown input \"irc\"") && e.contains("slack"), "{e}");
        let (c, _, e) = micro_out(&with(&["--inputs=hipchat"]), &[]);
        assert_eq!(c, 1);
        assert!(e.contains("HipChat") && e.contains("2019"), "{e}");
        for name in ["discord", "telegram"] {
            let (c, _, e) = micro_out(&with(&["--inputs", name]), &tokens);
            assert_eq!(c, 1);
            assert!(e.contains(&format!("input {name} is not implemented yet")), "{e}");
        }
        let (c, _, e) = micro_out(&with(&["--inputs=slack"]), &[]);
        assert_eq!(c, 1);
        assert!(e.contains("--slack_token") && e.contains("MICRO_SLACK_TOKEN"), "{e}");
        let (c, _, e) = micro_out(&with(&["--inputs=slack", "--slack_token", BOT_TOKEN]), &[]);
        assert_eq!(c, 1);
        assert!(e.contains("--slack_app_token") && e.contains("MICRO_SLACK_APP_TOKEN"), "{e}");
        let (c, _, e) = micro_out(&with(&["--inputs=slack", "--slack_app_token", BOT_TOKEN]), &tokens[..1]);
        assert_eq!(c, 1);
        assert!(e.contains("xapp-"), "{e}");

        // Tokens Slack refuses: exit 1 with Slack's reason, no endless reconnecting.
        let (c, _, e) = micro_out(
            &with(&["--inputs=slack", "--slack_api_url", &api_url]),
            &[("MICRO_SLACK_TOKEN", "xoxb-wrong"), ("MICRO_SLACK_APP_TOKEN", APP_TOKEN)],
        );
        assert_eq!(c, 1);
        assert!(e.contains("slack refused the bot: slack auth.test: invalid_auth"), "{e}");
        let (c, _, e) = micro_out(
            &with(&["--inputs=slack", "--slack_api_url", &api_url]),
            &[("MICRO_SLACK_TOKEN", BOT_TOKEN), ("MICRO_SLACK_APP_TOKEN", "xapp-wrong")],
        );
        assert_eq!(c, 1);
        assert!(e.contains("apps.connections.open: invalid_auth"), "{e}");

        let (c, o, _) = micro_out(&["bot", "--help"], &[("MICRO_SLACK_TOKEN", "xoxb-secret-value")]);
        assert_eq!(c, 0);
        assert!(o.contains("--slack_app_token") && o.contains("MICRO_SLACK_TOKEN"), "{o}");
        assert!(!o.contains("xoxb-secret-value"), "{o}");
    })
    .await
    .expect("checks");
}

/// A CA, and a server certificate it issues for 127.0.0.1: (CA PEM, certificate PEM, key PEM).
fn certificates(name: &str) -> (String, String, String) {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let ca = p.self_signed(&ca_key).expect("ca");
    let mut p = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = p.signed_by(&key, &ca, &ca_key).expect("leaf");
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// Real Slack is HTTPS and `wss://`: against a stand-in over TLS whose CA the bot trusts
/// through the platform's store (`SSL_CERT_FILE`, read by rustls-platform-verifier on
/// Linux), the bot connects and answers; with another CA in the store it refuses the
/// stand-in's certificate, says so, and keeps trying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_reaches_slack_over_tls() {
    let (ca, cert, key) = certificates("bot test CA");
    let (other_ca, _, _) = certificates("another CA");
    let dir = std::env::temp_dir().join(format!("micro-bot-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (ca_file, other_file) = (dir.join("ca.pem"), dir.join("other.pem"));
    std::fs::write(&ca_file, &ca).expect("write ca");
    std::fs::write(&other_file, &other_ca).expect("write other ca");
    let config = micro::transport::tls::server_config(cert.as_bytes(), key.as_bytes()).expect("server config");
    let StandIn { api_url, mut sockets, posts, .. } = StandIn::start_with(Some(config)).await;
    assert!(api_url.starts_with("https://127.0.0.1:"), "{api_url}");
    let args = ["--registry", "memory", "bot", "--inputs=slack", "--slack_api_url", &api_url];
    let tokens = [("MICRO_SLACK_TOKEN", BOT_TOKEN), ("MICRO_SLACK_APP_TOKEN", APP_TOKEN)];

    let trusting = Bot::start(&args, &[&tokens[..], &[("SSL_CERT_FILE", ca_file.to_str().expect("path"))]].concat());
    let ws = next_socket(&mut sockets).await;
    let mut chat = Chat { ws: Some(ws), posts, envelopes: 0, ts: 0 };
    assert_eq!(chat.ask("D1", "ping").await, "pong");
    drop(chat);
    stop(trusting);

    let wary = Bot::start(&args, &[&tokens[..], &[("SSL_CERT_FILE", other_file.to_str().expect("path"))]].concat());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !wary.output().contains("[loop] slack") {
        assert!(Instant::now() < deadline, "no reconnect line: {}", wary.output());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = wary.output();
    assert!(out.contains("auth.test") && out.to_lowercase().contains("certificate"), "{out}");
    assert!(sockets.try_recv().is_err(), "no socket without trust");
    drop(wary);
    let _ = std::fs::remove_dir_all(&dir);
}
