//! `micro bot`: chat-ops, as micro's bot. People talk to the bot in a chat service (an
//! [`input::Input`]; Slack is the one implemented) and it answers with what the `micro`
//! commands print (`list services`, `call …`, `health …`), with commands served by services
//! (`go.micro.bot.weather` → `weather …`), and with `help` (see [`commands`]).
//!
//! The bot registers itself as `go.micro.bot`, as micro's did, and runs each input in its
//! own loop: connect, take messages (each answered in a task of its own, so a slow call
//! never holds up the next message), and when the connection ends (the service asked to
//! reconnect, or it broke) say why on stderr, wait 1 s and connect again. An input whose
//! credentials are refused stops the bot (exit 1): no retry would help. Ctrl-C / SIGTERM
//! deregisters the bot and what it registered, and ends it (exit 0).

pub mod commands;
pub mod input;
pub mod net;
pub mod slack;

use crate::cmd::{Failure, Outcome};
use crate::session::Session;
use crate::Opts;
use clap::Args;
use commands::Commands;
use input::{Input, InputError};
use micro::{Server, ServerOptions};
use std::sync::Arc;
use std::time::Duration;

/// The name the bot registers as.
pub const SERVICE: &str = "go.micro.bot";

/// How long the bot waits before it connects again.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// `micro bot`'s flags, with micro's names and variables.
#[derive(Args, Debug, Clone)]
pub struct BotArgs {
    /// Chat services to serve, comma-separated: slack (discord and telegram are not
    /// implemented yet; HipChat is gone).
    #[arg(long, env = "MICRO_BOT_INPUTS")]
    pub inputs: Option<String>,
    /// Namespace of command services: a service named NAMESPACE.CMD answers CMD.
    #[arg(long, env = "MICRO_BOT_NAMESPACE", default_value = SERVICE)]
    pub namespace: String,
    /// Slack's bot token (xoxb-…), for the Web API.
    #[arg(long = "slack_token", env = "MICRO_SLACK_TOKEN", hide_env_values = true)]
    pub slack_token: Option<String>,
    /// Slack's app-level token (xapp-…, scope connections:write), for Socket Mode.
    #[arg(long = "slack_app_token", env = "MICRO_SLACK_APP_TOKEN", hide_env_values = true)]
    pub slack_app_token: Option<String>,
    /// Slack's Web API base URL (a stand-in's, for tests).
    #[arg(long = "slack_api_url", env = "MICRO_SLACK_API_URL", default_value = slack::DEFAULT_API_URL)]
    pub slack_api_url: String,
    /// Print Slack's frames and Web API answers on stderr.
    #[arg(long = "slack_debug", env = "MICRO_SLACK_DEBUG")]
    pub slack_debug: bool,
}

/// The inputs `--inputs` names, made; any name that is not served is a failure that says why.
fn inputs(args: &BotArgs) -> Result<Vec<Arc<dyn Input>>, Failure> {
    let mut names: Vec<String> = args
        .inputs
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(|n| n.trim().to_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    names.dedup();
    if names.is_empty() {
        return Err(Failure::Failed("micro bot needs an input: --inputs=slack (or MICRO_BOT_INPUTS=slack)".into()));
    }
    let mut made: Vec<Arc<dyn Input>> = Vec::new();
    for name in names {
        if let Some(why) = input::unavailable(&name) {
            return Err(Failure::Failed(format!("micro bot: input {name} {why}")));
        }
        match name.as_str() {
            "slack" => {
                let cfg = slack::Config {
                    bot_token: args.slack_token.as_deref().unwrap_or("").trim().to_string(),
                    app_token: args.slack_app_token.as_deref().unwrap_or("").trim().to_string(),
                    api_url: args.slack_api_url.clone(),
                    debug: args.slack_debug,
                };
                made.push(Arc::new(slack::Slack::new(cfg).map_err(|e| Failure::Failed(format!("micro bot: {e}")))?));
            }
            other => {
                return Err(Failure::Failed(format!(
                    "micro bot: unknown input {other:?}: the inputs are slack (discord and telegram are not implemented yet)"
                )))
            }
        }
    }
    Ok(made)
}

/// Runs the bot until Ctrl-C / SIGTERM, or until an input is refused.
pub async fn run(args: &BotArgs, opts: &Opts) -> Outcome {
    let inputs = inputs(args)?;
    // A session of its own, as `micro cli`'s: one registry, and what `register service`
    // registers is held until the bot stops.
    let sess = Arc::new(Session::new(opts, true));
    let registry = sess.registry().await?;
    let mut server_opts = ServerOptions::new(SERVICE);
    if let Ok(cfg) = micro::config::Config::from_env() {
        cfg.apply_server(&mut server_opts);
    }
    let server = Server::new(server_opts, registry);
    server.start().await.map_err(|e| Failure::Failed(format!("micro bot: cannot register as {SERVICE}: {e}")))?;
    let names: Vec<&str> = inputs.iter().map(|i| i.name()).collect();
    println!(
        "micro bot: registered as {SERVICE} in the {} registry; inputs {}; command services {}.*",
        sess.registry_name,
        names.join(","),
        args.namespace
    );
    let commands = Arc::new(Commands::new(opts.clone(), Arc::clone(&sess), args.namespace.clone()));
    let mut loops = tokio::task::JoinSet::new();
    for input in inputs {
        loops.spawn(serve(input, Arc::clone(&commands)));
    }
    let outcome = tokio::select! {
        _ = micro::wait_for_signal() => Ok(()),
        Some(ended) = loops.join_next() => ended.unwrap_or_else(|e| Err(Failure::Failed(format!("micro bot: {e}")))),
    };
    loops.abort_all();
    let _ = server.stop().await;
    sess.release().await;
    outcome
}

/// One input's loop: connect, answer, and connect again 1 s after the connection ends;
/// returns only when the input is refused.
async fn serve(input: Arc<dyn Input>, commands: Arc<Commands>) -> Outcome {
    let name = input.name();
    loop {
        let ended = match input.connect().await {
            Ok(mut conn) => loop {
                match conn.next().await {
                    Ok(msg) => {
                        let (input, commands) = (Arc::clone(&input), Arc::clone(&commands));
                        tokio::spawn(async move {
                            let answer = commands.answer(&msg.text).await;
                            if let Err(e) = input.reply(&msg, &answer).await {
                                eprintln!("micro bot: {} could not answer in {}: {e}", input.name(), msg.channel);
                            }
                        });
                    }
                    Err(e) => break e,
                }
            },
            Err(e) => e,
        };
        if let InputError::Refused(why) = ended {
            return Err(Failure::Failed(format!("micro bot: {name} refused the bot: {why}")));
        }
        eprintln!("[loop] {name}: {ended}; connecting again in {RECONNECT_PAUSE:?}");
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}
