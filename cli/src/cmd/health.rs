//! `micro health SERVICE` (also `health check SERVICE`): each node's Debug.Health, or, for a
//! node that does not serve it, whether it answers at all. Fails when a node is unreachable.
//! `micro bot`'s `health SERVICE` answers with the same [`report`].

use crate::cmd::{per_node, print, Failure, Outcome};
use crate::format;
use crate::session::Session;
use crate::{Opts, Output};

/// What `micro health` prints, in the format of `--output`, and how it ends: a failure
/// when a node is unreachable (the text is printed all the same).
pub async fn report(service: &str, opts: &Opts, sess: &Session) -> Result<(String, Outcome), Failure> {
    let mut rows = Vec::new();
    for (mut row, r) in per_node(service, "Debug.Health", opts, sess).await? {
        row.status = match r {
            Ok(body) => serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_string))
                .unwrap_or_else(|| "ok".into()),
            Err(_) if row.reachable => "reachable (does not serve Debug.Health)".into(),
            Err(e) => format!("unreachable: {e}"),
        };
        rows.push(row);
    }
    let all_up = rows.iter().all(|r| r.reachable);
    let text = match opts.output.unwrap_or(Output::Table) {
        Output::Table if opts.address.is_some() => rows.iter().map(|r| r.status.clone()).collect::<Vec<_>>().join("\n"),
        Output::Table => format::health(service, &rows),
        Output::Json => format::pretty(&rows),
        Output::Raw => serde_json::to_string(&rows).unwrap_or_default(),
    };
    let end = if all_up {
        Ok(())
    } else {
        Err(Failure::Failed(format!(
            "{service}: {} of {} node(s) unreachable",
            rows.iter().filter(|r| !r.reachable).count(),
            rows.len()
        )))
    };
    Ok((text, end))
}

/// Checks every node of `service` (or the `--address` node).
pub async fn run(service: &str, opts: &Opts, sess: &Session) -> Outcome {
    let (text, end) = report(service, opts, sess).await?;
    print(&text);
    end
}
