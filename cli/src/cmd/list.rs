//! `micro list services` (also `micro services`, `micro ls services`): the names in the
//! registry, sorted and without repeats, as go-micro's `micro list services` prints them.
//! `micro bot`'s `list services` answers with the same [`text`].

use crate::cmd::{print, Failure, Outcome};
use crate::format;
use crate::session::Session;
use crate::{Opts, Output};

/// What `micro list services` prints: the service names of the session's registry in the
/// format of `--output` (empty for an empty registry in the table format).
pub async fn text(opts: &Opts, sess: &Session) -> Result<String, Failure> {
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
    Ok(match opts.output.unwrap_or(Output::Table) {
        Output::Table => names.join("\n"),
        Output::Json => format::pretty(&names),
        Output::Raw => serde_json::to_string(&names).unwrap_or_default(),
    })
}

/// Lists the service names of the session's registry.
pub async fn run(opts: &Opts, sess: &Session) -> Outcome {
    let text = text(opts, sess).await?;
    if !text.is_empty() {
        print(&text);
    }
    Ok(())
}
