//! The accept loop: HTTP/1.1 (hyper) over TCP, or over TLS when a rustls config is given
//! (plain HTTP to a TLS listener is answered 400, [`crate::tls`]); keep-alive; on shutdown
//! the listener closes at once and every connection finishes the request it is serving,
//! then closes. What answers the requests is a [`Handle`]: the [`crate::Gateway`], or the
//! [`crate::web::Dashboard`] in front of one.

use crate::{Body, Peer};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a client may take to send a request's head before its connection is closed.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What answers a listener's requests: never fails, every failure is an HTTP answer.
pub(crate) trait Handle: Clone + Send + Sync + 'static {
    /// Answers one request.
    fn handle(&self, req: hyper::Request<Body>) -> impl std::future::Future<Output = hyper::Response<Body>> + Send;
}

impl Handle for crate::Gateway {
    fn handle(&self, req: hyper::Request<Body>) -> impl std::future::Future<Output = hyper::Response<Body>> + Send {
        crate::Gateway::handle(self, req)
    }
}

pub(crate) async fn run<H: Handle>(
    gateway: H,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let tracker = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = micro::transport::listener::accept_tcp(&listener) => accepted,
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

async fn connection<H: Handle, S>(gateway: H, stream: S, shutdown: CancellationToken, peer: Peer)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let gw = gateway.clone();
        let mut req = req.map(crate::boxed);
        req.extensions_mut().insert(peer);
        async move { Ok::<_, std::convert::Infallible>(gw.handle(req).await) }
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
