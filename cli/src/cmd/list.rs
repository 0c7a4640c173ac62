//! `micro list services` (also `micro services`, `micro ls services`): the names in the
//! registry, sorted and without repeats, as go-micro's `micro list services` prints them.

use crate::cmd::{print, Failure, Outcome};
use crate::format;
use crate::session::Session;
use crate::{Opts, Output};

/// Lists the service names of the session's registry.
pub async fn run(opts: &Opts, sess: &Session) -> Outcome {
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
