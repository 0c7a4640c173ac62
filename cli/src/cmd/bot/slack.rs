//! The Slack input: Socket Mode for what people say, the Web API for the rest.
//!
//! go-micro's Slack input used the RTM API, which Slack has retired for new apps. Socket
//! Mode is its successor for a bot without a public URL: with the app-level token (`xapp-…`,
//! scope `connections:write`) `apps.connections.open` hands out a websocket URL; Slack sends
//! `hello`, then one envelope per event, each of which must be acknowledged with its
//! `envelope_id` within 3 s (else Slack sends it again), and a `disconnect` before it closes
//! the socket (a refresh, every few hours). The bot token (`xoxb-…`) is for the Web API:
//! `auth.test` tells the bot its user id and name, `chat.postMessage` answers.
//!
//! Which messages are for the bot is go-micro's rule: everything in a direct message
//! (channel id `D…`), and in a channel what starts with the bot's name or a mention of it
//! (`<@U…>`), which is removed. An answer in a channel starts with a mention of the asker
//! (`<@U…>: `; go-micro's `@name:` no longer notifies anyone). Beyond go-micro: `message`
//! and `app_mention` events are both taken, each message once (an app subscribed to both
//! gets a mention twice, and an envelope acknowledged late comes again); the bot's name is
//! matched as a whole word in any case (`Micro ping` from a phone); an answer in a thread
//! stays in the thread; Slack's `&amp;`, `&lt;`, `&gt;` are read and written as Slack
//! wants them.

use super::input::{Connection, Input, InputError, Message};
use super::net::{self, Api, WebSocket};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use micro::transport::http_client::StatusCode;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;

/// Slack's Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api/";

/// How often the bot pings Slack over the socket, to find out that it is gone.
const PING_EVERY: Duration = Duration::from_secs(30);

/// How long the socket may stay silent (no frame, not even a pong) before it counts as broken.
const SILENT_FOR: Duration = Duration::from_secs(90);

/// How many recent messages are remembered to take each one once.
const REMEMBERED: usize = 512;

/// Slack's error codes that no retry can fix: the bot stops and says which.
const FATAL: &[&str] = &[
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "no_permission",
    "missing_scope",
    "not_allowed_token_type",
    "invalid_token",
    "ekm_access_denied",
];

/// How to reach Slack.
#[derive(Clone, Debug)]
pub struct Config {
    /// The bot token, `xoxb-…`, for the Web API.
    pub bot_token: String,
    /// The app-level token, `xapp-…`, for Socket Mode.
    pub app_token: String,
    /// The Web API's base URL.
    pub api_url: String,
    /// Print every frame and Web API answer on stderr.
    pub debug: bool,
}

/// Who the bot is in the workspace, from `auth.test`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Me {
    user_id: String,
    name: String,
    bot_id: String,
}

/// The Slack input.
pub struct Slack {
    cfg: Config,
    api: Api,
    /// The latest messages taken (`channel/ts`), across connections.
    seen: Arc<Mutex<VecDeque<String>>>,
}

impl Slack {
    /// The input for `cfg`: both tokens of the right kinds and a usable API URL, else a
    /// message that says which flag to fix.
    pub fn new(cfg: Config) -> Result<Slack, String> {
        if cfg.bot_token.is_empty() {
            return Err("the slack input needs the bot token (xoxb-…): --slack_token or MICRO_SLACK_TOKEN".into());
        }
        if cfg.app_token.is_empty() {
            return Err("the slack input needs an app-level token (xapp-…, scope connections:write) for Socket Mode: \
                 --slack_app_token or MICRO_SLACK_APP_TOKEN"
                .into());
        }
        if !cfg.app_token.starts_with("xapp-") {
            return Err("--slack_app_token must be an app-level token (xapp-…): Socket Mode takes no other".into());
        }
        if !cfg.bot_token.starts_with("xox") {
            return Err("--slack_token must be a Slack token (the bot token, xoxb-…)".into());
        }
        let api = Api::new(&cfg.api_url).map_err(|e| format!("--slack_api_url: {e}"))?;
        Ok(Slack { cfg, api, seen: Arc::default() })
    }

    /// Calls Web API `method` with `token` and `body` (JSON, or nothing); the answer when
    /// Slack says `ok`, else an error naming the method and Slack's error code.
    async fn call(&self, method: &str, token: &str, body: Option<&Value>) -> Result<Value, InputError> {
        let auth = format!("Bearer {token}");
        let (content_type, bytes) = match body {
            Some(v) => ("application/json; charset=utf-8", Bytes::from(v.to_string())),
            None => ("application/x-www-form-urlencoded", Bytes::new()),
        };
        let headers = [("Authorization", auth.as_str()), ("Content-Type", content_type)];
        let mut retried = false;
        loop {
            let (status, retry_after, answer) =
                self.api.post(method, &headers, bytes.clone()).await.map_err(InputError::Failed)?;
            if self.cfg.debug {
                eprintln!("slack {method} -> {status} {}", String::from_utf8_lossy(&answer));
            }
            if status == 429 && !retried {
                // Rate limited: wait as asked (at most a minute), once.
                retried = true;
                tokio::time::sleep(Duration::from_secs(retry_after.unwrap_or(1).min(60))).await;
                continue;
            }
            let v: Value = serde_json::from_slice(&answer).map_err(|_| {
                InputError::Failed(format!(
                    "slack {method}: {status}, not JSON: {}",
                    String::from_utf8_lossy(&answer[..answer.len().min(200)])
                ))
            })?;
            if v["ok"].as_bool() == Some(true) {
                return Ok(v);
            }
            let code = v["error"].as_str().unwrap_or("no error code").to_string();
            let text = match status {
                StatusCode::OK => format!("slack {method}: {code}"),
                _ => format!("slack {method}: {code} ({status})"),
            };
            return Err(if FATAL.contains(&code.as_str()) || status == 401 || status == 403 {
                InputError::Refused(text)
            } else {
                InputError::Failed(text)
            });
        }
    }

    /// Who the bot is (`auth.test` with the bot token).
    async fn whoami(&self) -> Result<Me, InputError> {
        let v = self.call("auth.test", &self.cfg.bot_token, None).await?;
        let me = Me {
            user_id: v["user_id"].as_str().unwrap_or_default().to_string(),
            name: v["user"].as_str().unwrap_or_default().to_string(),
            bot_id: v["bot_id"].as_str().unwrap_or_default().to_string(),
        };
        if me.user_id.is_empty() {
            return Err(InputError::Failed(format!("slack auth.test named no user_id: {v}")));
        }
        Ok(me)
    }
}

#[async_trait]
impl Input for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }

    async fn connect(&self) -> Result<Connection, InputError> {
        let me = self.whoami().await?;
        let open = self.call("apps.connections.open", &self.cfg.app_token, None).await?;
        let url = open["url"]
            .as_str()
            .ok_or_else(|| InputError::Failed(format!("slack apps.connections.open gave no url: {open}")))?;
        let ws = net::websocket(url).await.map_err(|e| InputError::Failed(format!("slack socket: {e}")))?;
        let (tx, rx) = mpsc::channel(64);
        let reader = Reader { me, seen: Arc::clone(&self.seen), tx, debug: self.cfg.debug };
        tokio::spawn(reader.run(ws));
        Ok(Connection::new(rx))
    }

    async fn reply(&self, to: &Message, text: &str) -> Result<(), InputError> {
        let text = escape(if text.trim().is_empty() { "(nothing to say)" } else { text });
        let text = if to.direct { text } else { format!("<@{}>: {text}", to.user) };
        let mut body = json!({"channel": to.channel, "text": text});
        if let Some(ts) = &to.thread {
            body["thread_ts"] = json!(ts);
        }
        self.call("chat.postMessage", &self.cfg.bot_token, Some(&body)).await.map(|_| ())
    }
}

/// The task that reads one socket: acknowledges every envelope at once, passes on the
/// messages for the bot, pings, and ends with why the socket ended.
struct Reader {
    me: Me,
    seen: Arc<Mutex<VecDeque<String>>>,
    tx: mpsc::Sender<Result<Message, InputError>>,
    debug: bool,
}

impl Reader {
    async fn run(self, mut ws: WebSocket) {
        let end = self.read(&mut ws).await;
        let _ = ws.close(None).await;
        let _ = self.tx.send(Err(end)).await;
    }

    /// Reads until the socket ends or the bot lets go of the connection.
    async fn read(&self, ws: &mut WebSocket) -> InputError {
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        let mut heard = Instant::now();
        loop {
            let frame = tokio::select! {
                f = ws.next() => f,
                _ = ping.tick() => {
                    if heard.elapsed() > SILENT_FOR {
                        return InputError::Failed(format!("nothing from slack for {SILENT_FOR:?}"));
                    }
                    if let Err(e) = ws.send(Frame::Ping(Bytes::new())).await {
                        return InputError::Failed(format!("slack socket: {e}"));
                    }
                    continue;
                }
                _ = self.tx.closed() => return InputError::Failed("the bot closed the connection".into()),
            };
            heard = Instant::now();
            let text = match frame {
                None => return InputError::Failed("slack closed the socket".into()),
                Some(Err(e)) => return InputError::Failed(format!("slack socket: {e}")),
                Some(Ok(Frame::Close(c))) => {
                    return InputError::Failed(format!(
                        "slack closed the socket{}",
                        c.map(|c| format!(" ({} {})", c.code, c.reason)).unwrap_or_default()
                    ))
                }
                Some(Ok(Frame::Text(t))) => t,
                Some(Ok(_)) => continue, // pings are answered by tungstenite; pongs only count as heard
            };
            if self.debug {
                eprintln!("slack <- {}", text.as_str());
            }
            let Ok(envelope) = serde_json::from_str::<Value>(text.as_str()) else {
                eprintln!("micro bot: slack sent a frame that is not JSON: {}", text.as_str());
                continue;
            };
            if let Some(id) = envelope["envelope_id"].as_str() {
                let ack = json!({"envelope_id": id}).to_string();
                if self.debug {
                    eprintln!("slack -> {ack}");
                }
                if let Err(e) = ws.send(Frame::text(ack)).await {
                    return InputError::Failed(format!("slack socket: {e}"));
                }
            }
            match envelope["type"].as_str() {
                Some("hello") => println!("micro bot: slack connected as {} ({})", self.me.name, self.me.user_id),
                Some("disconnect") => {
                    return InputError::Disconnected(envelope["reason"].as_str().unwrap_or("no reason").to_string())
                }
                Some("events_api") => {
                    let Some(msg) = addressed(&envelope["payload"]["event"], &self.me) else { continue };
                    if !self.first_time(&envelope["payload"]["event"]) {
                        continue;
                    }
                    if self.tx.send(Ok(msg)).await.is_err() {
                        return InputError::Failed("the bot closed the connection".into());
                    }
                }
                _ => {} // slash commands, interactivity: acknowledged, not for this bot
            }
        }
    }

    /// Whether the message of `event` is seen for the first time (and remembers it).
    fn first_time(&self, event: &Value) -> bool {
        let key = format!("{}/{}", event["channel"].as_str().unwrap_or(""), event["ts"].as_str().unwrap_or(""));
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(&key) {
            return false;
        }
        if seen.len() == REMEMBERED {
            seen.pop_front();
        }
        seen.push_back(key);
        true
    }
}

/// The message in `event` if it is for the bot `me` (see the module comment), its text
/// without the mention.
fn addressed(event: &Value, me: &Me) -> Option<Message> {
    if !matches!(event["type"].as_str(), Some("message" | "app_mention")) || event.get("subtype").is_some() {
        return None;
    }
    let user = event["user"].as_str()?;
    if user == me.user_id || (!me.bot_id.is_empty() && event["bot_id"].as_str() == Some(me.bot_id.as_str())) {
        return None;
    }
    let channel = event["channel"].as_str()?;
    let direct = channel.starts_with('D') || event["channel_type"].as_str() == Some("im");
    let text = event["text"].as_str()?.trim();
    let text = match (strip_mention(text, me), direct) {
        (Some(rest), _) => rest,
        (None, true) => text,
        (None, false) => return None,
    };
    let text = unescape(text.trim_start_matches([':', ',']).trim());
    if text.is_empty() {
        return None;
    }
    Some(Message {
        text,
        user: user.to_string(),
        channel: channel.to_string(),
        direct,
        thread: event["thread_ts"].as_str().map(str::to_string),
    })
}

/// `text` after a leading mention of the bot (`<@U1>`, `<@U1|name>`) or its name as a whole
/// word (any case, optionally `@name`); `None` when it starts with neither.
fn strip_mention<'a>(text: &'a str, me: &Me) -> Option<&'a str> {
    if let Some(rest) = text.strip_prefix("<@").and_then(|r| r.strip_prefix(me.user_id.as_str())) {
        if let Some(rest) = rest.strip_prefix('>') {
            return Some(rest);
        }
        if let Some(rest) = rest.strip_prefix('|') {
            return rest.split_once('>').map(|(_, after)| after);
        }
        return None;
    }
    if me.name.is_empty() {
        return None;
    }
    let t = text.strip_prefix('@').unwrap_or(text);
    let head = t.get(..me.name.len())?;
    let rest = &t[me.name.len()..];
    let whole_word = rest.chars().next().map_or(true, |c| c.is_whitespace() || c == ':' || c == ',');
    (head.eq_ignore_ascii_case(&me.name) && whole_word).then_some(rest)
}

/// Slack's escaped text as typed: `&lt;` `&gt;` `&amp;`.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Text as Slack wants it sent: `&`, `<`, `>` escaped (else `<…>` would be read as a link
/// or a mention).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::{addressed, escape, strip_mention, unescape, Me};
    use serde_json::json;

    fn me() -> Me {
        Me { user_id: "UBOT".into(), name: "micro".into(), bot_id: "BBOT".into() }
    }

    fn text_of(event: serde_json::Value) -> Option<String> {
        addressed(&event, &me()).map(|m| m.text)
    }

    #[test]
    fn direct_messages_and_mentions_are_for_the_bot() {
        let m =
            addressed(&json!({"type":"message","user":"U1","channel":"D1","text":"ping","ts":"1.0"}), &me()).unwrap();
        assert_eq!((m.text.as_str(), m.direct, m.user.as_str(), m.channel.as_str()), ("ping", true, "U1", "D1"));
        assert_eq!(
            text_of(json!({"type":"message","user":"U1","channel":"C1","text":"<@UBOT> ping"})).as_deref(),
            Some("ping")
        );
        assert_eq!(
            text_of(json!({"type":"app_mention","user":"U1","channel":"C1","text":"<@UBOT|micro>: list services"}))
                .as_deref(),
            Some("list services")
        );
        assert_eq!(
            text_of(json!({"type":"message","user":"U1","channel":"C1","text":"micro: ping"})).as_deref(),
            Some("ping")
        );
        assert_eq!(
            text_of(json!({"type":"message","user":"U1","channel":"C1","text":"Micro ping"})).as_deref(),
            Some("ping")
        );
        assert_eq!(
            text_of(json!({"type":"message","user":"U1","channel":"C1","text":"@micro ping"})).as_deref(),
            Some("ping")
        );
        // A mention in a direct message is taken off too; the channel type says "im" too.
        assert_eq!(
            text_of(json!({"type":"message","user":"U1","channel":"D1","text":"<@UBOT> time"})).as_deref(),
            Some("time")
        );
        assert_eq!(
            text_of(json!({"type":"message","user":"U1","channel":"G1","channel_type":"im","text":"ping"})).as_deref(),
            Some("ping")
        );
        let m = addressed(
            &json!({"type":"message","user":"U1","channel":"C1","text":"<@UBOT> ping","thread_ts":"9.1"}),
            &me(),
        )
        .unwrap();
        assert_eq!((m.direct, m.thread.as_deref()), (false, Some("9.1")));
    }

    #[test]
    fn other_messages_are_not() {
        for event in [
            json!({"type":"message","user":"U1","channel":"C1","text":"ping"}),
            json!({"type":"message","user":"U1","channel":"C1","text":"microservices are fun"}),
            json!({"type":"message","user":"U1","channel":"C1","text":"hey <@UBOT> ping"}),
            json!({"type":"message","user":"U1","channel":"C1","text":"<@UOTHER> ping"}),
            json!({"type":"message","user":"UBOT","channel":"D1","text":"pong"}),
            json!({"type":"message","user":"U9","bot_id":"BBOT","channel":"D1","text":"pong"}),
            json!({"type":"message","subtype":"message_changed","channel":"D1","message":{"text":"ping"}}),
            json!({"type":"message","subtype":"bot_message","user":"U1","channel":"D1","text":"ping"}),
            json!({"type":"reaction_added","user":"U1","channel":"D1","text":"ping"}),
            json!({"type":"message","user":"U1","channel":"D1","text":"<@UBOT>"}),
            json!({"type":"message","user":"U1","channel":"D1","text":"   "}),
        ] {
            assert_eq!(addressed(&event, &me()), None, "{event}");
        }
    }

    #[test]
    fn mentions_and_entities() {
        assert_eq!(strip_mention("<@UBOT2> x", &me()), None);
        assert_eq!(strip_mention("micro", &me()), Some(""));
        assert_eq!(unescape("a &amp;&lt;b&gt;"), "a &<b>");
        assert_eq!(escape("a &<b>"), "a &amp;&lt;b&gt;");
        assert_eq!(
            text_of(json!({"type":"message","user":"U1","channel":"D1","text":"echo 1 &lt; 2 &amp;&amp; 3"}))
                .as_deref(),
            Some("echo 1 < 2 && 3")
        );
    }
}
