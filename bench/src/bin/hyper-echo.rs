//! The floor: a raw hyper 1 HTTP/1.1 echo server (collects the body, returns it).
//!
//! `hyper-echo [--addr 127.0.0.1:0]` prints `{"event":"ready","address":...}`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use micro_bench::Args;

async fn echo(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let body = req.into_body().collect().await?.to_bytes();
    let mut rsp = Response::new(Full::new(body));
    rsp.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    Ok(rsp)
}

#[tokio::main]
async fn main() {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("hyper-echo: {e}");
            std::process::exit(1);
        }
    };
    let listener = match tokio::net::TcpListener::bind(args.str("addr", "127.0.0.1:0")).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hyper-echo: bind: {e}");
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    println!("{}", serde_json::json!({"event": "ready", "address": addr}));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("hyper-echo: accept: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(echo);
            if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await
            {
                eprintln!("hyper-echo: connection: {e}");
            }
        });
    }
}
