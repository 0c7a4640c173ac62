//! `micro deregister service JSON`: removes a service's nodes from the registry. With mdns,
//! where a node lives in the process that answers for it, this sends the goodbye for them,
//! which also ends a `micro register service` holding them.

use crate::cmd::register::service_arg;
use crate::cmd::{print, Failure, Outcome};
use crate::session::Session;
use micro::registry::{self, mdns, Registry};

/// Deregisters the service of `json`: what `micro deregister service` does before it
/// prints `ok` (and `micro bot`'s `deregister service` before it answers `ok`).
pub async fn remove(json: &[String], sess: &Session) -> Outcome {
    let svc = service_arg(json)?;
    let registry = sess.registry().await?;
    let ours = sess.registered.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|s| s.name == svc.name);
    if registry.name() == "mdns" && !ours {
        // mDNS has no central store: the node lives in the process that answers for it. Send
        // the goodbye for it (briefly owning the record, without announcing it), which drops
        // it from every cache and ends a `micro register service` holding it.
        let opts = mdns::Options { announce: false, ..Default::default() };
        let once = mdns::Mdns::new(opts).await.map_err(|e| Failure::Failed(format!("mdns registry: {}", e.detail)))?;
        once.register(&svc, registry::RegisterOptions::default())
            .await
            .map_err(|e| Failure::Failed(format!("error deregistering {}: {}", svc.name, e.detail)))?;
        once.deregister(&svc)
            .await
            .map_err(|e| Failure::Failed(format!("error deregistering {}: {}", svc.name, e.detail)))?;
        once.close().await;
    } else {
        registry
            .deregister(&svc)
            .await
            .map_err(|e| Failure::Failed(format!("error deregistering {}: {}", svc.name, e.detail)))?;
        sess.registered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|s| s.name != svc.name || s.nodes != svc.nodes);
    }
    Ok(())
}

/// Deregisters the service of `json` and prints `ok`.
pub async fn run(json: &[String], sess: &Session) -> Outcome {
    remove(json, sess).await?;
    print("ok");
    Ok(())
}
