//! Pub/sub with micro, interoperable with go-micro.
//!
//! ```sh
//! cargo run -p pubsub-example -- sub events            # a service subscribed to "events"
//! cargo run -p pubsub-example -- pub events hello 3    # publishes 3 messages
//! ```
//!
//! The broker comes from `MICRO_BROKER` / `MICRO_BROKER_ADDRESS` (default: go-micro's
//! HTTP broker; `MICRO_BROKER=nats MICRO_BROKER_ADDRESS=127.0.0.1:4222` for NATS), the
//! registry from `MICRO_REGISTRY` (default mDNS). A go-micro publisher
//! (`client.Publish`) reaches the subscriber, and a go-micro subscriber
//! (`micro.RegisterSubscriber`) receives what `pub` sends.
//!
//! `sub` prints `subscribed to TOPIC …` once its subscriber is registered. `pub` publishes
//! each message **once**: on the HTTP broker it first waits until the registry lists a
//! subscriber of the topic, because a publish the broker answers `not found` (nobody
//! subscribed anywhere yet) stays queued in it and goes out with the next publish, as in
//! go-micro — retrying it would deliver the message twice.

use micro::broker::{http, SubscribeOptions};
use micro::{Error, PublishOptions, Service};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

#[derive(Serialize, Deserialize, Debug)]
struct Note {
    text: String,
    n: u32,
}

#[tokio::main]
async fn main() -> micro::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("sub");
    let topic = args.get(1).cloned().unwrap_or_else(|| "events".into());
    match mode {
        "sub" => {
            let svc = Service::builder("pubsub.sub").build().await?;
            let queue = std::env::var("QUEUE").ok();
            svc.server().subscribe_json(&topic, SubscribeOptions { queue }, |note: Note, ev| async move {
                println!("{}: {note:?} (Micro-ID {})", ev.topic, ev.message.get("Micro-ID").unwrap_or("-"));
                Ok(())
            });
            svc.start().await?; // registers the service and its subscriber
            println!("subscribed to {topic} via the {} broker; Ctrl-C to stop", svc.broker().name());
            micro::wait_for_signal().await;
            svc.stop().await
        }
        "pub" => {
            let text = args.get(2).cloned().unwrap_or_else(|| "hello".into());
            let count: u32 = args.get(3).and_then(|c| c.parse().ok()).unwrap_or(1);
            let svc = Service::builder("pubsub.pub").build().await?;
            svc.start().await?;
            if svc.broker().name() == "http" {
                wait_for_subscriber(&svc, &topic, Duration::from_secs(10)).await?;
            }
            for n in 0..count {
                let note = Note { text: text.clone(), n };
                svc.client().publish_json(&topic, &note, &PublishOptions::default()).await?;
                println!("published {note:?} on {topic}");
            }
            // The HTTP broker delivers after publish returns (no completion signal, as in
            // go-micro): give it a moment before the process exits.
            tokio::time::sleep(Duration::from_millis(500)).await;
            svc.stop().await
        }
        other => {
            eprintln!("usage: pubsub-example sub|pub TOPIC [TEXT COUNT] (got {other:?})");
            std::process::exit(2);
        }
    }
}

/// Waits until the registry lists an HTTP broker subscriber (`micro.http.broker`, any
/// version: broadcast or a queue group) of `topic`, polling until `within` has passed.
async fn wait_for_subscriber(svc: &Service, topic: &str, within: Duration) -> micro::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let services = svc.registry().get_service(http::SERVICE).await.unwrap_or_default();
        let found =
            services.iter().flat_map(|s| &s.nodes).any(|n| n.metadata.get("topic").map(String::as_str) == Some(topic));
        if found {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::not_found(
                "pubsub.pub",
                format!("no subscriber of {topic:?} in the registry after {within:?} (is `pubsub-example sub {topic}` running?)"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
