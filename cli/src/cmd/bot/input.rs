//! The chat services `micro bot` listens on, behind one trait: an [`Input`] connects and
//! hands over the messages addressed to the bot as they arrive (a [`Connection`]), and sends
//! the bot's answers back. Which messages are addressed to the bot (a direct message, a
//! mention) and how an answer names its asker are the input's business, so the bot's loop
//! and commands (`super::commands`) know nothing of Slack.
//!
//! go-micro's bot had the same split (`agent/input`): an input's `Stream` of events and a
//! `Send` of the answer with From and To swapped. Ours delivers only text messages already
//! meant for the bot, which is all go-micro's bot ever processed.

use async_trait::async_trait;
use tokio::sync::mpsc;

/// A message addressed to the bot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// What the bot is asked, the mention of the bot removed (`ping`, `list services`).
    pub text: String,
    /// Who asked: the service's user id.
    pub user: String,
    /// Where: the service's channel (or conversation) id; the answer goes there.
    pub channel: String,
    /// Whether it was said to the bot alone (a direct message): the answer names nobody.
    pub direct: bool,
    /// The thread it was said in, so the answer goes to the same thread.
    pub thread: Option<String>,
}

/// Why an input could not connect, or why its connection ended.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The service refused the bot's credentials or request: connecting again will not help,
    /// and the bot stops.
    #[error("{0}")]
    Refused(String),
    /// The service could not be reached, or the connection broke: the bot connects again.
    #[error("{0}")]
    Failed(String),
    /// The service asked the bot to connect again (Slack's `disconnect`).
    #[error("the service asked to reconnect ({0})")]
    Disconnected(String),
}

/// One connection of an input: the messages for the bot, then why it ended.
pub struct Connection {
    rx: mpsc::Receiver<Result<Message, InputError>>,
}

impl Connection {
    /// A connection fed by an input's reading task through `rx`: messages, and last the
    /// error that ended the connection. The task stops when the connection is dropped
    /// (its sender is closed).
    pub fn new(rx: mpsc::Receiver<Result<Message, InputError>>) -> Self {
        Connection { rx }
    }

    /// The next message; after the last one, the error that ended the connection (an input
    /// whose task ended without saying why ended with [`InputError::Failed`]).
    pub async fn next(&mut self) -> Result<Message, InputError> {
        match self.rx.recv().await {
            Some(item) => item,
            None => Err(InputError::Failed("the connection ended".into())),
        }
    }
}

/// A chat service the bot listens on.
///
/// The contract: [`Input::connect`] opens one connection and returns once it is open;
/// everything the connection needs to keep going (acknowledgements, keep-alives) is the
/// input's own work, done in a task of its own, never waiting for the bot to answer a
/// message. [`Input::reply`] may be called from many tasks at once, for messages of this
/// connection or an earlier one.
#[async_trait]
pub trait Input: Send + Sync {
    /// The input's name in `--inputs` and in messages (`slack`).
    fn name(&self) -> &'static str;

    /// Connects: the messages addressed to the bot, until the connection ends.
    async fn connect(&self) -> Result<Connection, InputError>;

    /// Sends `text` as the answer to `to`, where it was asked (naming the asker unless it
    /// was a direct message).
    async fn reply(&self, to: &Message, text: &str) -> Result<(), InputError>;
}

/// Whether `name` is an input this build knows but does not serve, and why not.
pub fn unavailable(name: &str) -> Option<&'static str> {
    match name {
        "discord" | "telegram" => Some("is not implemented yet (inputs: slack)"),
        "hipchat" => Some(
            "is gone: Atlassian shut HipChat down in February 2019 and moved its users to Slack; use --inputs=slack",
        ),
        _ => None,
    }
}
