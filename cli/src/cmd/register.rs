//! `micro register service JSON`: registers a service from go-micro's registry JSON.
//!
//! mDNS has no central store, so with mdns this command is the registration: it answers for
//! the service until Ctrl-C, SIGTERM, or a goodbye for one of its nodes from another process
//! (`micro deregister service`). Inside `micro cli` (and `micro bot`) the session holds it
//! instead ([`held`]).

use crate::cmd::{print, Failure, Outcome};
use crate::format;
use crate::session::Session;
use micro::registry::{self, Registry, Service};
use std::sync::Arc;

/// A service from its registry JSON (the words joined with spaces): a name, at least one
/// node with an id and an address; an empty version becomes go-micro's `latest`.
pub fn service_arg(json: &[String]) -> Result<Service, Failure> {
    let text = json.join(" ");
    format::parse_json("the service", &text).map_err(Failure::Usage)?;
    let mut svc: Service = serde_json::from_str(&text)
        .map_err(|e| Failure::Usage(format!("the service is not go-micro's registry JSON: {e}")))?;
    if svc.version.is_empty() {
        svc.version = "latest".into(); // go-micro's default; mDNS watchers drop empty versions
    }
    if svc.name.is_empty() {
        return Err(Failure::Usage("the service needs a \"name\"".into()));
    }
    if svc.nodes.is_empty() {
        return Err(Failure::Usage(
            "the service needs at least one node: \"nodes\":[{\"id\":…,\"address\":\"host:port\"}]".into(),
        ));
    }
    if let Some(n) = svc.nodes.iter().find(|n| n.id.is_empty() || n.address.is_empty()) {
        return Err(Failure::Usage(format!("every node needs an \"id\" and an \"address\" (host:port); got {n:?}")));
    }
    Ok(svc)
}

/// Registers `svc` in `registry`.
async fn register(registry: &Arc<dyn Registry>, svc: &Service) -> Outcome {
    registry
        .register(svc, registry::RegisterOptions::default())
        .await
        .map_err(|e| Failure::Failed(format!("error registering {}: {}", svc.name, e.detail)))
}

/// Registers the service of `json` for an interactive session (`micro cli`, `micro bot`),
/// which holds it until the session ends.
pub async fn held(json: &[String], sess: &Session) -> Outcome {
    let svc = service_arg(json)?;
    register(&sess.registry().await?, &svc).await?;
    sess.registered.lock().unwrap_or_else(|p| p.into_inner()).push(svc);
    Ok(())
}

/// Registers the service of `json`, and with mdns outside a session, holds it.
pub async fn run(json: &[String], sess: &Session) -> Outcome {
    if sess.interactive {
        held(json, sess).await?;
        print("ok");
        return Ok(());
    }
    let svc = service_arg(json)?;
    let registry = sess.registry().await?;
    // Watch before registering, so a goodbye from `micro deregister` is not missed.
    let hold = registry.name() == "mdns";
    let mut watcher = if hold { registry.watch(Some(&svc.name)).await.ok() } else { None };
    register(&registry, &svc).await?;
    print("ok");
    if registry.name() == "proxy" {
        eprintln!(
            "note: registered through the sidecar (--proxy_address) with a TTL of 90s; the sidecar's registry holds it"
        );
        return Ok(());
    }
    if !hold {
        eprintln!("note: the {} registry lives in this process only; the registration ends with it (use mdns, or `micro cli`)", registry.name());
        return Ok(());
    }
    eprintln!(
        "registered {} over mDNS: answering for it until Ctrl-C, SIGTERM or `micro deregister service`",
        svc.name
    );
    let ids: Vec<String> = svc.nodes.iter().map(|n| n.id.clone()).collect();
    let goodbye = async {
        match watcher.as_mut() {
            Some(w) => {
                while let Some(ev) = w.next().await {
                    if ev.action == registry::Action::Delete && ev.service.nodes.iter().any(|n| ids.contains(&n.id)) {
                        return;
                    }
                }
                std::future::pending::<()>().await
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = stop_signal() => {}
        _ = goodbye => eprintln!("deregistered by a goodbye from another process"),
    }
    let _ = registry.deregister(&svc).await;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
