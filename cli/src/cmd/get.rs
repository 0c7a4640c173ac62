//! `micro get service NAME` (in `micro cli` also `get NAME`): every version of a service with
//! its nodes and endpoints, in the toolkit's table or as registry JSON. `micro bot`'s
//! `get service NAME` answers with the same [`text`].

use crate::cmd::{print, Failure, Outcome};
use crate::format;
use crate::session::{lookup, Session};
use crate::{Opts, Output};

/// What `micro get service NAME` prints, in the format of `--output`.
pub async fn text(name: &str, opts: &Opts, sess: &Session) -> Result<String, Failure> {
    let services = lookup(sess, name).await?;
    Ok(match opts.output.unwrap_or(Output::Table) {
        Output::Table => format!("{}\n", format::service(name, &services)),
        Output::Json => format::pretty(&services),
        Output::Raw => serde_json::to_string(&services).unwrap_or_default(),
    })
}

/// Shows the registrations of `name`.
pub async fn run(name: &str, opts: &Opts, sess: &Session) -> Outcome {
    print(&text(name, opts, sess).await?);
    Ok(())
}
