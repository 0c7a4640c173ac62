//! How a command ends when it does not succeed: a usage mistake (exit 2) or a failure
//! (exit 1), with the text for stderr. Shared by the commands (`cmd`), the session that
//! opens their registry and client (`session`), and the interactive shell.

/// Why a command did not succeed, and so its exit code.
#[derive(Debug)]
pub enum Failure {
    /// The command line was wrong (exit 2).
    Usage(String),
    /// The command ran and failed (exit 1).
    Failed(String),
}

impl Failure {
    /// The exit code: 2 for usage, 1 for a failure.
    pub fn code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Failed(_) => 1,
        }
    }

    /// What to print on stderr.
    pub fn text(&self) -> &str {
        match self {
            Failure::Usage(t) | Failure::Failed(t) => t,
        }
    }
}

/// What a command returns.
pub type Outcome = Result<(), Failure>;
