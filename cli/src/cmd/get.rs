//! `micro get service NAME` (in `micro cli` also `get NAME`): every version of a service with
//! its nodes and endpoints, in the toolkit's table or as registry JSON.

use crate::cmd::{print, Outcome};
use crate::format;
use crate::session::{lookup, Session};
use crate::{Opts, Output};

/// Shows the registrations of `name`.
pub async fn run(name: &str, opts: &Opts, sess: &Session) -> Outcome {
    let services = lookup(sess, name).await?;
    match opts.output.unwrap_or(Output::Table) {
        Output::Table => print(&format!("{}\n", format::service(name, &services))),
        Output::Json => print(&format::pretty(&services)),
        Output::Raw => print(&serde_json::to_string(&services).unwrap_or_default()),
    }
    Ok(())
}
