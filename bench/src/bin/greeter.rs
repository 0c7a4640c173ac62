//! Our greeter, as the benchmarks serve it: `Greeter.Hello` (JSON) and `Greeter.Stream`.
//!
//! `greeter [--addr 127.0.0.1:0] [--name greeter] [--registry memory|mdns]` prints
//! `{"event":"ready","address":...}` once registered and serving, then runs until SIGTERM.
//! `MICRO_ACCESS_LOG` and `MICRO_METRICS_ADDRESS` apply as on any service; with metrics on,
//! the ready line also names where they are served (`"metrics":"127.0.0.1:PORT"`).

use micro::{Error, Service};
use micro_bench::{Args, HelloRequest, Reply};

async fn run() -> Result<(), String> {
    let args = Args::parse(std::env::args().skip(1))?;
    let svc = Service::builder(args.str("name", "greeter"))
        .address(args.str("addr", "127.0.0.1:0"))
        .registry_url(args.str("registry", "memory"))
        .build()
        .await
        .map_err(|e| e.to_string())?;
    svc.server().handle_json("Greeter.Hello", |req: HelloRequest, _| async move {
        Ok(Reply { message: format!("Hello {}", req.name) })
    });
    svc.server().handle_stream("Greeter.Stream", |_, mut stream| async move {
        while let Some(msg) = stream.recv().await {
            let req: HelloRequest =
                serde_json::from_slice(&msg?).map_err(|e| Error::bad_request("greeter", e.to_string()))?;
            let rsp = serde_json::to_vec(&Reply { message: format!("Hello {}", req.name) })
                .map_err(|e| Error::internal("greeter", e.to_string()))?;
            stream.send(rsp).await?;
        }
        Ok(())
    });
    svc.start().await.map_err(|e| e.to_string())?;
    let addr = svc.server().advertised().unwrap_or_default();
    let mut ready = serde_json::json!({"event": "ready", "address": addr});
    if let Some(m) = svc.metrics_address() {
        ready["metrics"] = m.to_string().into();
    }
    println!("{ready}");
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    svc.stop().await.map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("greeter: {e}");
        std::process::exit(1);
    }
}
