//! `micro health SERVICE` (also `health check SERVICE`): each node's Debug.Health, or, for a
//! node that does not serve it, whether it answers at all. Fails when a node is unreachable.
//! `micro bot`'s `health SERVICE` answers with the same [`report`].
//!
//! `micro health --check_service NAME --check_address HOST:PORT` is the classic health
//! sidecar instead ([`serve`]): `GET /health` asks that node's Debug.Health.

use crate::cmd::{per_node, print, Failure, Outcome};
use crate::format;
use crate::session::Session;
use crate::{Opts, Output};

/// What `micro health` prints, in the format of `--output`, and how it ends: a failure
/// when a node is unreachable (the text is printed all the same).
pub async fn report(service: &str, opts: &Opts, sess: &Session) -> Result<(String, Outcome), Failure> {
    let mut rows = Vec::new();
    for (mut row, r) in per_node(service, "Debug.Health", opts, sess).await? {
        row.status = match r {
            Ok(body) => serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_string))
                .unwrap_or_else(|| "ok".into()),
            Err(_) if row.reachable => "reachable (does not serve Debug.Health)".into(),
            Err(e) => format!("unreachable: {e}"),
        };
        rows.push(row);
    }
    let all_up = rows.iter().all(|r| r.reachable);
    let text = match opts.output.unwrap_or(Output::Table) {
        Output::Table if opts.address.is_some() => rows.iter().map(|r| r.status.clone()).collect::<Vec<_>>().join("\n"),
        Output::Table => format::health(service, &rows),
        Output::Json => format::pretty(&rows),
        Output::Raw => serde_json::to_string(&rows).unwrap_or_default(),
    };
    let end = if all_up {
        Ok(())
    } else {
        Err(Failure::Failed(format!(
            "{service}: {} of {} node(s) unreachable",
            rows.iter().filter(|r| !r.reachable).count(),
            rows.len()
        )))
    };
    Ok((text, end))
}

/// Checks every node of `service` (or the `--address` node).
pub async fn run(service: &str, opts: &Opts, sess: &Session) -> Outcome {
    let (text, end) = report(service, opts, sess).await?;
    print(&text);
    end
}

/// The classic health sidecar (spec P16): serves `GET /health` on the global `--address`
/// (else MICRO_HEALTH_ADDRESS, else `:8088`). Each request calls Debug.Health of `service` at
/// `address`: `OK` (200) when its status is `ok`, else `NOT_HEALTHY` (500) — with the reason
/// on a second line, where the classic said nothing. Runs until Ctrl-C / SIGTERM.
pub async fn serve(service: &str, address: &str, opts: &Opts) -> Outcome {
    use http_body_util::Full;
    use hyper::{Response, StatusCode};
    let env = std::env::var("MICRO_HEALTH_ADDRESS").ok().filter(|a| !a.is_empty());
    let listen = crate::cmd::listen::listen_address(opts.address.as_deref().or(env.as_deref()).unwrap_or(":8088"));
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| Failure::Failed(format!("micro health: cannot listen on {listen}: {e}")))?;
    let bound = listener.local_addr().map_err(|e| Failure::Failed(e.to_string()))?;
    let client = crate::session::direct_client(opts)?;
    let mut copts = crate::session::call_options(opts);
    copts.address = vec![address.to_string()];
    copts.retries = Some(0);
    let check = std::sync::Arc::new((client, copts, service.to_string()));
    println!("micro health listening on http://{bound}/health: Debug.Health of {service} at {address}");
    let accept = async move {
        loop {
            let (stream, _) = micro::transport::listener::accept_tcp(&listener).await;
            let check = std::sync::Arc::clone(&check);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let check = std::sync::Arc::clone(&check);
                    async move {
                        let (status, text) = if req.uri().path() != "/health" {
                            (StatusCode::NOT_FOUND, "404 page not found\n".to_string())
                        } else {
                            let (client, copts, service) = &*check;
                            match client.call(service, "Debug.Health", &b"{}"[..], copts).await {
                                Ok(r) => match serde_json::from_slice::<serde_json::Value>(&r.body)
                                    .ok()
                                    .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_string))
                                {
                                    Some(s) if s == "ok" => (StatusCode::OK, "OK".to_string()),
                                    other => {
                                        (StatusCode::INTERNAL_SERVER_ERROR, format!("NOT_HEALTHY\nstatus {other:?}\n"))
                                    }
                                },
                                Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("NOT_HEALTHY\n{e}\n")),
                            }
                        };
                        let mut rsp = Response::new(Full::new(bytes::Bytes::from(text)));
                        *rsp.status_mut() = status;
                        Ok::<_, std::convert::Infallible>(rsp)
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
            });
        }
    };
    tokio::select! {
        _ = accept => Ok(()),
        _ = micro::wait_for_signal() => Ok(()),
    }
}
