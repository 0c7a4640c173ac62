//! `micro publish TOPIC JSON`: one message through the broker of `--broker` (http, go-micro's
//! default, finds subscribers in the registry; nats goes through a nats server), or the sidecar's
//! `/broker` with `--proxy_address`.

use crate::cmd::{json_arg, print, Failure, Outcome};
use crate::session::{direct_client, Session};
use crate::Opts;
use micro::PublishOptions;
use std::sync::Arc;
use std::time::Duration;

/// Publishes the JSON of `message` on `topic`.
pub async fn run(topic: &str, message: &[String], opts: &Opts, sess: &Session) -> Outcome {
    let body = json_arg("the message", message, "{}")?;
    if let Some(remote) = &sess.proxy {
        return match remote.publish(topic, "application/json", body.into_bytes().into()).await {
            Ok(()) => {
                print("ok");
                Ok(())
            }
            Err(e) => Err(Failure::Failed(format!("error publishing to {topic} through {}: {e}", remote.base()))),
        };
    }
    let registry = sess.registry().await?;
    let url = micro::broker::url_from_env(Some(&opts.broker), opts.broker_address.as_deref());
    let broker = micro::broker::from_url(&url, registry, micro::broker::DEFAULT_MAX_MESSAGE)
        .map_err(|e| Failure::Usage(e.detail))?;
    let client = direct_client(opts)?;
    client.set_broker(Arc::clone(&broker));
    let popts = PublishOptions {
        content_type: Some("application/json".into()),
        metadata: opts.metadata.iter().cloned().collect(),
    };
    let result = client.publish(topic, body.into_bytes(), &popts).await;
    if result.is_ok() && broker.name() == "http" {
        // The http broker posts to subscribers after publish returns: give it a moment.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let _ = broker.disconnect().await;
    match result {
        Ok(()) => {
            print("ok");
            Ok(())
        }
        Err(e) if e.code == 404 && e.id == micro::broker::BROKER_ID => Err(Failure::Failed(format!(
            "error publishing to {topic}: nobody subscribes through the http broker (no micro.http.broker node)\nhint: {}",
            publish_hint(topic, &sess.registry_name)
        ))),
        Err(e) => Err(Failure::Failed(format!("error publishing to {topic}: {e}"))),
    }
}

/// A hint for a publish nobody can receive yet: start a subscriber, then publish once; where
/// we looked. (`--address` is for calls: it does not apply to publish.)
fn publish_hint(topic: &str, registry: &str) -> String {
    format!(
        "start a subscriber of {topic} first (a service that subscribes to it through the http broker), \
         then publish once: the message stays queued and goes out with the next publish, so a retry \
         delivers it twice; looked for subscribers in the {registry} registry (choose another with \
         --registry or MICRO_REGISTRY), or use --broker nats"
    )
}
