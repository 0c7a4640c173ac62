//! `micro stats SERVICE`: each node's Debug.Stats (started, uptime, memory, threads, gc) in
//! the toolkit's table; nodes that do not serve it show empty fields and a note on stderr.

use crate::cmd::{per_node, print, Failure, Outcome};
use crate::format::{self, Stats};
use crate::session::Session;
use crate::{Opts, Output};

/// Shows Debug.Stats of every node of `service` (or the `--address` node).
pub async fn run(service: &str, opts: &Opts, sess: &Session) -> Outcome {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for (mut row, r) in per_node(service, "Debug.Stats", opts, sess).await? {
        match r.map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok().as_ref().and_then(Stats::from_json)) {
            Ok(Some(s)) => {
                row.status = "ok".into();
                row.stats = Some(s);
            }
            Ok(None) => row.status = "Debug.Stats answered with something that is not go-micro's stats".into(),
            Err(e) if row.reachable => row.status = format!("does not serve Debug.Stats: {e}"),
            Err(e) => row.status = format!("unreachable: {e}"),
        }
        if row.stats.is_none() {
            notes.push(format!("node {} ({}): {}", row.id, row.address, row.status));
        }
        rows.push(row);
    }
    match opts.output.unwrap_or(Output::Table) {
        Output::Table => print(&format::stats(service, &rows)),
        Output::Json => print(&format::pretty(&rows)),
        Output::Raw => print(&serde_json::to_string(&rows).unwrap_or_default()),
    }
    for n in &notes {
        eprintln!("note: {n}");
    }
    if rows.iter().any(|r| r.stats.is_some()) {
        Ok(())
    } else {
        Err(Failure::Failed(format!("{service}: no node answered Debug.Stats")))
    }
}
