//! The Rust twin of `gm serve`: the same Greeter endpoints, served by micro over mDNS, for
//! tests that need a separate process (to SIGKILL it, say).
//!
//! `rgreeter --name NAME [--address HOST:PORT]` prints
//! `{"event":"ready","id":…,"address":…}` once registered; SIGTERM stops it cleanly.

use micro::{Error, Service};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Deserialize)]
struct Hello {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct Fail {
    #[serde(default)]
    code: i32,
    #[serde(default)]
    detail: String,
}

#[derive(Deserialize)]
struct Slow {
    #[serde(default)]
    ms: u64,
}

#[derive(Serialize)]
struct Reply {
    message: String,
}

/// Adds the harness Greeter endpoints to `svc`.
fn greeter(svc: &Service) {
    let s = svc.server();
    let name = s.options().name.clone();
    s.handle_json("Greeter.Hello", |req: Hello, _| async move { Ok(Reply { message: format!("Hello {}", req.name) }) });
    s.handle_json("Greeter.Fail", move |req: Fail, _| {
        let name = name.clone();
        async move { Err::<Reply, _>(Error::new(name, req.detail, req.code)) }
    });
    s.handle_json("Greeter.Slow", |req: Slow, _| async move {
        tokio::time::sleep(Duration::from_millis(req.ms)).await;
        Ok(Reply { message: "slept".into() })
    });
    let id = s.id().to_string();
    s.handle_json("Greeter.Whoami", move |_: serde_json::Value, _| {
        let id = id.clone();
        async move { Ok(Reply { message: id }) }
    });
    s.handle_stream("Greeter.Stream", |_, mut stream| async move {
        while let Some(msg) = stream.recv().await {
            let hello: Hello =
                serde_json::from_slice(&msg?).map_err(|e| Error::bad_request("rgreeter", e.to_string()))?;
            let reply = serde_json::to_vec(&Reply { message: format!("Hello {}", hello.name) })
                .map_err(|e| Error::internal("rgreeter", e.to_string()))?;
            stream.send(reply).await?;
        }
        Ok(())
    });
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let Some(name) = flag("--name") else {
        eprintln!("usage: rgreeter --name NAME [--address HOST:PORT]");
        std::process::exit(1);
    };
    let address = flag("--address").unwrap_or_else(|| "127.0.0.1:0".into());
    let svc = match Service::builder(name.as_str()).address(address).build().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rgreeter: {e}");
            std::process::exit(1);
        }
    };
    greeter(&svc);
    if let Err(e) = svc.start().await {
        eprintln!("rgreeter: {e}");
        std::process::exit(1);
    }
    let ready = serde_json::json!({
        "event": "ready",
        "id": svc.server().id(),
        "name": name,
        "address": svc.server().advertised(),
    });
    println!("{ready}");
    let stop = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { if let Some(t) = term.as_mut() { t.recv().await; } else { std::future::pending::<()>().await } } => {}
        }
    };
    stop.await;
    if let Err(e) = svc.stop().await {
        eprintln!("rgreeter: stop: {e}");
        std::process::exit(1);
    }
}
