//! The greeter client: finds `greeter` (Go or Rust) over mDNS and calls it.
//!
//! `cargo run -p greeter-example --bin client -- [NAME] [SERVICE]`

use micro::registry::cache::Cache;
use micro::{CallOptions, Client, ClientOptions};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

#[derive(Serialize)]
struct Request {
    name: String,
}

#[derive(Deserialize)]
struct Response {
    message: String,
}

#[tokio::main]
async fn main() -> micro::Result<()> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "John".into());
    let service = args.next().unwrap_or_else(|| "greeter".into());
    let registry =
        micro::registry::from_url(&std::env::var("MICRO_REGISTRY").unwrap_or_else(|_| "mdns".into())).await?;
    let client = Client::with_cache(Some(Cache::new(registry)), ClientOptions::default());
    // A just-started server may not be discoverable for a moment: retry briefly.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match client
            .call_json::<_, Response>(
                &service,
                "Greeter.Hello",
                &Request { name: name.clone() },
                &CallOptions::default(),
            )
            .await
        {
            Ok(rsp) => {
                println!("{}", rsp.message);
                return Ok(());
            }
            Err(e) if e.code == 404 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => {
                eprintln!("call failed: {e}");
                return Err(e);
            }
        }
    }
}
