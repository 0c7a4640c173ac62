//! The accept loop: HTTP/1.1 (hyper) over TCP, or over TLS when a rustls config is given
//! (plain HTTP to a TLS listener is answered 400, [`crate::tls`]); keep-alive; on shutdown
//! the listener closes at once and every connection finishes the request it is serving,
//! then closes. The gateway and the sidecar ([`crate::sidecar`]) share it through [`Handle`].

use crate::{Body, Gateway, Peer};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a client may take to send a request's head before its connection is closed.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What answers the requests of a served listener: the gateway, or the sidecar in front of one.
pub(crate) trait Handle: Clone + Send + Sync + 'static {
    /// Answers one request; every failure is an HTTP answer.
    fn answer(&self, req: Request<Body>) -> impl Future<Output = Response<Body>> + Send;
}

impl Handle for Gateway {
    fn answer(&self, req: Request<Body>) -> impl Future<Output = Response<Body>> + Send {
        self.handle(req)
    }
}

pub(crate) async fn run<G: Handle>(
    gateway: G,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let tracker = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a reset before accept: wait a moment, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let gw = gateway.clone();
        let stop = shutdown.clone();
        let acceptor = acceptor.clone();
        tracker.spawn(async move {
            match acceptor {
                None => connection(gw, stream, stop, Peer { addr: peer, tls: false }).await,
                Some(a) => match tokio::time::timeout(HEADER_TIMEOUT, crate::tls::accept(&a, stream)).await {
                    Ok(Ok(Some(tls))) => connection(gw, tls, stop, Peer { addr: peer, tls: true }).await,
                    Ok(Ok(None)) => tracing::debug!(%peer, "plain HTTP on the TLS port: answered 400"),
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
        });
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
    Ok(())
}

async fn connection<G: Handle, S>(gateway: G, stream: S, shutdown: CancellationToken, peer: Peer)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let gw = gateway.clone();
        let mut req = req.map(crate::boxed);
        req.extensions_mut().insert(peer);
        async move { Ok::<_, std::convert::Infallible>(gw.answer(req).await) }
    });
    let mut builder = http1::Builder::new();
    builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended");
            }
        }
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
