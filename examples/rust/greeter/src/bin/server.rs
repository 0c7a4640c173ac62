//! The greeter server: `Greeter.Hello` and a `Greeter.Stream`, registered over mDNS.
//!
//! `cargo run -p greeter-example --bin server` — then call it from Go, Rust or the CLI.
//! Name and address come from `MICRO_SERVER_NAME` / `MICRO_SERVER_ADDRESS` if set.

use micro::{Error, Service};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    name: String,
}

#[derive(Serialize)]
struct Response {
    message: String,
}

#[tokio::main]
async fn main() -> micro::Result<()> {
    let svc = Service::builder("greeter").build().await?;
    svc.server().handle_json("Greeter.Hello", |req: Request, _| async move {
        if req.name.is_empty() {
            return Err(Error::bad_request("greeter", "name required"));
        }
        Ok(Response { message: format!("Hello {}", req.name) })
    });
    svc.server().handle_stream("Greeter.Stream", |_, mut stream| async move {
        while let Some(msg) = stream.recv().await {
            let req: Request =
                serde_json::from_slice(&msg?).map_err(|e| Error::bad_request("greeter", e.to_string()))?;
            let rsp = serde_json::to_vec(&Response { message: format!("Hello {}", req.name) })
                .map_err(|e| Error::internal("greeter", e.to_string()))?;
            stream.send(rsp).await?;
        }
        Ok(())
    });
    svc.start().await?;
    println!("greeter {} listening on {}", svc.server().id(), svc.server().advertised().unwrap_or_default());
    tokio::signal::ctrl_c().await.ok();
    svc.stop().await
}
