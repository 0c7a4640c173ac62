//! What the bot answers: the built-in commands of micro's bot, and commands served by
//! services.
//!
//! Built-ins (`echo`, `time`, `hello`, `ping`, `list services`, `get service`, `health`,
//! `call`, `register service`, `deregister service`, `the three laws`, `help`) answer with
//! what the `micro` command of the same name prints: they run the same functions
//! (`cmd::list::text`, `cmd::call::reply` …) on the bot's session, which holds what it
//! registers until the bot stops, as `micro cli` does. A failure answers
//! `error executing cmd: <what micro would print>`.
//!
//! A service named `<namespace>.<cmd>` (`go.micro.bot.weather`) serves command `<cmd>`:
//! go-micro's `Command` handler, `Command.Help` → `{usage, description}` for `help`, and
//! `Command.Exec` `{"args": [the message split on blanks]}` → `{result, error}`. `result` is
//! bytes, which proto3's JSON (a go-micro service answering JSON) writes in base64; text that
//! is not base64 of UTF-8 is taken as it is. The services are looked up in the registry when
//! asked, so one started or stopped a moment ago is seen. A built-in wins over a service of
//! the same name.
//!
//! Where go-micro stayed silent we answer: a command word is matched in any case (phones
//! capitalise the first word), a command missing its argument answers `list what?` (and so
//! on), an unknown word answers how to find the known ones.

use crate::cmd::{body_text, call, deregister, get, health, list, register, Failure};
use crate::session::Session;
use crate::Opts;
use base64::Engine;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A built-in command as `help` lists it.
struct Builtin {
    usage: &'static str,
    description: &'static str,
}

/// The built-ins, in `help`'s order (by usage).
const BUILTINS: &[Builtin] = &[
    Builtin { usage: "call [service] [endpoint] [request]", description: "Returns the response for a service call" },
    Builtin { usage: "deregister service [definition]", description: "Deregisters a service" },
    Builtin { usage: "echo [text]", description: "Returns the [text]" },
    Builtin { usage: "get service [name]", description: "Returns a registered service" },
    Builtin { usage: "health [service]", description: "Returns health of a service" },
    Builtin { usage: "hello", description: "Returns a greeting" },
    Builtin { usage: "help", description: "Displays help for all known commands" },
    Builtin { usage: "list services", description: "Returns a list of registered services" },
    Builtin { usage: "ping", description: "Returns pong" },
    Builtin { usage: "register service [definition]", description: "Registers a service" },
    Builtin { usage: "the three laws", description: "Returns the three laws of robotics" },
    Builtin { usage: "time", description: "Returns the server time" },
];

/// The first words of the built-ins: a service command of one of these names is never called.
const BUILTIN_WORDS: &[&str] =
    &["call", "deregister", "echo", "get", "health", "hello", "help", "list", "ping", "register", "time"];

/// Isaac Asimov's three laws of robotics.
const THREE_LAWS: &str =
    "1. A robot may not injure a human being or, through inaction, allow a human being to come to harm.\n\
2. A robot must obey the orders given it by human beings except where such orders would conflict with the First Law.\n\
3. A robot must protect its own existence as long as such protection does not conflict with the First or Second Law.";

/// The bot's commands, on its session (registry, client) and options.
pub struct Commands {
    opts: Opts,
    sess: Arc<Session>,
    namespace: String,
}

impl Commands {
    /// Commands that run on `sess` with `opts` (timeouts, retries, output), and take
    /// services named `<namespace>.<cmd>` as commands.
    pub fn new(opts: Opts, sess: Arc<Session>, namespace: String) -> Self {
        let namespace = namespace.trim_end_matches('.').to_string();
        Commands { opts, sess, namespace }
    }

    /// The answer to `text`.
    pub async fn answer(&self, text: &str) -> String {
        let text = text.trim();
        if is_three_laws(text) {
            return THREE_LAWS.to_string();
        }
        let (word, rest) = split_word(text);
        let lower = word.to_lowercase();
        let result = match lower.as_str() {
            "echo" if rest.is_empty() => Ok("echo what?".to_string()),
            "echo" => Ok(rest.to_string()),
            "time" | "hello" | "ping" | "help" if !rest.is_empty() => Ok(format!("{lower} takes no arguments")),
            "time" => Ok(format!("Server time is: {}", crate::format::rfc1123(now()))),
            "hello" => Ok("hey what's up?".to_string()),
            "ping" => Ok("pong".to_string()),
            "help" => Ok(self.help().await),
            "list" => self.list(rest).await,
            "get" => self.get(rest).await,
            "health" => self.health(rest).await,
            "call" => self.call(rest).await,
            "register" | "deregister" => self.register(&lower, rest).await,
            _ => self.service_command(word, text).await,
        };
        result.unwrap_or_else(|f| format!("error executing cmd: {}", f.text()))
    }

    /// `list services`.
    async fn list(&self, rest: &str) -> Result<String, Failure> {
        match rest.to_lowercase().as_str() {
            "" => Ok("list what?".into()),
            "services" => {
                let names = list::text(&self.opts, &self.sess).await?;
                Ok(if names.is_empty() {
                    format!("no services in the {} registry", self.sess.registry_name)
                } else {
                    names
                })
            }
            _ => Ok(unknown_sub("list services")),
        }
    }

    /// `get service NAME`.
    async fn get(&self, rest: &str) -> Result<String, Failure> {
        let (what, name) = split_word(rest);
        match (what.to_lowercase().as_str(), name) {
            ("", _) => Ok("get what?".into()),
            ("service", "") => Ok("require service name".into()),
            ("service", name) => get::text(name, &self.opts, &self.sess).await,
            _ => Ok(unknown_sub("get service [name]")),
        }
    }

    /// `health SERVICE` (or `health check SERVICE`, as the CLI takes it): the table, and
    /// below it why it failed when a node is unreachable.
    async fn health(&self, rest: &str) -> Result<String, Failure> {
        let service = match split_word(rest) {
            ("", _) => return Ok("health what?".into()),
            ("check", service) if !service.is_empty() => service,
            _ => rest,
        };
        let (text, end) = health::report(service, &self.opts, &self.sess).await?;
        Ok(match end {
            Ok(()) => text,
            Err(f) => format!("{text}\n{}", f.text()),
        })
    }

    /// `call SERVICE ENDPOINT [JSON]`.
    async fn call(&self, rest: &str) -> Result<String, Failure> {
        let (service, rest) = split_word(rest);
        let (endpoint, request) = split_word(rest);
        if endpoint.is_empty() {
            return Ok("call what?\nusage: call [service] [endpoint] [request]".into());
        }
        let request: Vec<String> = if request.is_empty() { vec![] } else { vec![plain_quotes(request)] };
        let body = call::reply(service, endpoint, &request, &self.opts, &self.sess).await?;
        Ok(body_text(&body))
    }

    /// `register service JSON` and `deregister service JSON`.
    async fn register(&self, cmd: &str, rest: &str) -> Result<String, Failure> {
        let (what, json) = split_word(rest);
        let usage = format!("{cmd} service [definition]");
        match what.to_lowercase().as_str() {
            "" => return Ok(format!("{cmd} what?")),
            "service" if json.is_empty() => return Ok(format!("{cmd} what?\nusage: {usage}")),
            "service" => {}
            _ => return Ok(unknown_sub(&usage)),
        }
        let json = [plain_quotes(json)];
        if cmd == "register" {
            register::held(&json, &self.sess).await?;
        } else {
            deregister::remove(&json, &self.sess).await?;
        }
        Ok("ok".into())
    }

    /// The commands services serve: (command, service name), sorted, without the built-ins'.
    async fn command_services(&self) -> Result<Vec<(String, String)>, Failure> {
        let registry = self.sess.registry().await?;
        let services = registry
            .list_services()
            .await
            .map_err(|e| Failure::Failed(format!("{} registry: {}", self.sess.registry_name, e.detail)))?;
        let prefix = format!("{}.", self.namespace);
        let mut commands: Vec<(String, String)> = services
            .into_iter()
            .filter_map(|s| {
                let cmd = s.name.strip_prefix(&prefix)?.to_string();
                (!cmd.is_empty() && !BUILTIN_WORDS.contains(&cmd.to_lowercase().as_str())).then_some((cmd, s.name))
            })
            .collect();
        commands.sort();
        commands.dedup();
        Ok(commands)
    }

    /// The command `word` served by a service: `Command.Exec` with the words of `text`.
    async fn service_command(&self, word: &str, text: &str) -> Result<String, Failure> {
        let commands = self.command_services().await?;
        let Some((_, service)) = commands.iter().find(|(cmd, _)| cmd.eq_ignore_ascii_case(word)) else {
            return Ok(format!("unknown command {word:?}: help lists the commands"));
        };
        let args: Vec<&str> = text.split_whitespace().collect();
        let request = [json!({ "args": args }).to_string()];
        let body = call::reply(service, "Command.Exec", &request, &self.opts, &self.sess).await?;
        let rsp: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if let Some(e) = rsp["error"].as_str().filter(|e| !e.is_empty()) {
            return Err(Failure::Failed(e.to_string()));
        }
        Ok(exec_result(&rsp["result"]))
    }

    /// `help`: two newlines, then `usage - description` per built-in, then per command service.
    async fn help(&self) -> String {
        let mut lines: Vec<String> = BUILTINS.iter().map(|b| format!("{} - {}", b.usage, b.description)).collect();
        if let Ok(commands) = self.command_services().await {
            let helps = commands.iter().map(|(cmd, service)| async move {
                let help = call::reply(service, "Command.Help", &[], &self.opts, &self.sess).await;
                let help: Value = help.ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
                let usage = help["usage"].as_str().filter(|u| !u.is_empty()).unwrap_or(cmd);
                match help["description"].as_str().filter(|d| !d.is_empty()) {
                    Some(d) => format!("{usage} - {d}"),
                    None => format!("{usage} - served by {service}"),
                }
            });
            lines.extend(futures_util::future::join_all(helps).await);
        }
        format!("\n\n{}", lines.join("\n"))
    }
}

/// `the three laws`, `three laws`, `the three laws of robotics`, in any case.
fn is_three_laws(text: &str) -> bool {
    let t = text.to_lowercase();
    let t = t.strip_prefix("the ").unwrap_or(&t);
    let t = t.strip_suffix(" of robotics").unwrap_or(t);
    t == "three laws"
}

/// The first word of `text` and the rest, both trimmed.
fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim();
    match text.split_once(char::is_whitespace) {
        Some((w, rest)) => (w, rest.trim()),
        None => (text, ""),
    }
}

/// go-micro's answer to a sub-command it does not know.
fn unknown_sub(usage: &str) -> String {
    format!("unknown command...\nsupported commands: \n{usage}")
}

/// JSON as a chat client may have typed it: curly quotes (which some clients put in for
/// straight ones) made straight.
fn plain_quotes(json: &str) -> String {
    json.replace(['\u{201c}', '\u{201d}', '\u{201e}'], "\"").replace(['\u{2018}', '\u{2019}'], "'")
}

/// Base64 as proto3's JSON parsers read it: standard or URL-safe, padded or not.
const BASE64: [base64::engine::GeneralPurpose; 2] = {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    [GeneralPurpose::new(&base64::alphabet::STANDARD, config), GeneralPurpose::new(&base64::alphabet::URL_SAFE, config)]
};

/// `Command.Exec`'s `result` as text: bytes in proto3 JSON are base64; a string that does
/// not decode to text (UTF-8 without control characters but line breaks and tabs) is taken
/// as it is, an array of numbers as bytes.
fn exec_result(result: &Value) -> String {
    let text = |b: Vec<u8>| {
        String::from_utf8(b).ok().filter(|t| !t.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')))
    };
    match result {
        Value::String(s) => BASE64.iter().find_map(|e| e.decode(s).ok().and_then(text)).unwrap_or_else(|| s.clone()),
        Value::Array(items) => {
            let bytes: Vec<u8> = items.iter().filter_map(|v| v.as_u64().and_then(|n| u8::try_from(n).ok())).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::{exec_result, is_three_laws, plain_quotes, split_word, BUILTINS};
    use serde_json::json;

    #[test]
    fn help_lists_the_builtins_by_usage() {
        let usages: Vec<&str> = BUILTINS.iter().map(|b| b.usage).collect();
        let mut sorted = usages.clone();
        sorted.sort();
        assert_eq!(usages, sorted);
        assert!(BUILTINS.iter().any(|b| format!("{} - {}", b.usage, b.description) == "ping - Returns pong"));
    }

    #[test]
    fn words_laws_and_quotes() {
        assert_eq!(split_word("  call  greeter  Say.Hello {\"a\":  1} "), ("call", "greeter  Say.Hello {\"a\":  1}"));
        assert_eq!(split_word("ping"), ("ping", ""));
        for t in ["the three laws", "three laws", "The Three Laws of Robotics", "three laws of robotics"] {
            assert!(is_three_laws(t), "{t}");
        }
        assert!(!is_three_laws("the three laws please"));
        assert_eq!(plain_quotes("{\u{201c}name\u{201d}: \u{201c}x\u{201d}}"), "{\"name\": \"x\"}");
    }

    #[test]
    fn exec_results_are_bytes() {
        assert_eq!(exec_result(&json!("d2VhdGhlciBsb25kb24=")), "weather london");
        assert_eq!(exec_result(&json!("d2VhdGhlciBsb25kb24")), "weather london");
        assert_eq!(exec_result(&json!("weather london")), "weather london");
        assert_eq!(exec_result(&json!("pong")), "pong");
        assert_eq!(exec_result(&json!([104, 105])), "hi");
        assert_eq!(exec_result(&json!(null)), "");
        assert_eq!(exec_result(&json!("AAAA")), "AAAA");
        assert_eq!(exec_result(&json!("YS1i_w")), "YS1i_w"); // URL-safe, but not UTF-8
    }
}
