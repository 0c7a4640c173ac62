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

use micro::broker::SubscribeOptions;
use micro::{PublishOptions, Service};
use serde::{Deserialize, Serialize};
use std::time::Duration;

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
            println!("subscribed to {topic} via the {} broker; Ctrl-C to stop", svc.broker().name());
            svc.run().await
        }
        "pub" => {
            let text = args.get(2).cloned().unwrap_or_else(|| "hello".into());
            let count: u32 = args.get(3).and_then(|c| c.parse().ok()).unwrap_or(1);
            let svc = Service::builder("pubsub.pub").build().await?;
            svc.start().await?;
            for n in 0..count {
                let note = Note { text: text.clone(), n };
                // The HTTP broker answers "not found" until a subscriber has been discovered.
                let mut tries = 0;
                loop {
                    match svc.client().publish_json(&topic, &note, &PublishOptions::default()).await {
                        Err(e) if e.detail.contains("not found") && tries < 20 => {
                            tries += 1;
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                        other => break other?,
                    }
                }
                println!("published {note:?} on {topic}");
            }
            // The HTTP broker delivers after publish returns: give it a moment.
            tokio::time::sleep(Duration::from_millis(500)).await;
            svc.stop().await
        }
        other => {
            eprintln!("usage: pubsub-example sub|pub TOPIC [TEXT COUNT] (got {other:?})");
            std::process::exit(2);
        }
    }
}
