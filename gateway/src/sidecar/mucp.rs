//! The transparent RPC proxy (`micro proxy --protocol=mucp`; spec P14, P15, go-micro's
//! `proxy/mucp`): a go-micro RPC server, registered as `go.micro.proxy`, that forwards every
//! unary call it receives. A go-micro client sends it everything with `MICRO_PROXY=HOST:PORT`
//! (or `MICRO_PROXY=service`, through the registry): go-micro v4 and v5 clients honour it.
//!
//! Without a fixed target the call goes to the service its `Micro-Service` header names, found
//! in the proxy's registry; `--endpoint` (alias `--backend`) fixes the target instead: a
//! service name, or a `host:port` called directly. Body, content type and metadata travel
//! untouched, the caller's deadline with them; the answer and errors come back as the
//! service sent them. Streams are forwarded the same way, each message in order both ways,
//! until the service ends the stream (with `EOS` or its error, which the caller gets).

use micro::client::ClientStream;
use micro::{CallOptions, Client, Request, Response, Server, ServerStream};

/// The service name the proxy registers, as go-micro's `MICRO_PROXY=service` expects.
pub const SERVICE: &str = "go.micro.proxy";

/// Where forwarded calls go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// To the service each call names (`Micro-Service`).
    Route,
    /// Every call to this service, whatever the call names.
    Service(String),
    /// Every call to the node at this `host:port`.
    Address(String),
}

impl Target {
    /// `--endpoint`/`--backend`: empty → [`Target::Route`], `host:port` → an address, else a
    /// service name.
    pub fn parse(s: Option<&str>) -> Target {
        match s.map(str::trim).filter(|s| !s.is_empty()) {
            None => Target::Route,
            Some(a) if a.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) => Target::Address(a.into()),
            Some(name) => Target::Service(name.into()),
        }
    }
}

/// Makes `server` forward every unary call and every stream it receives, through `client`,
/// to `target`.
pub fn forward(server: &Server, client: Client, target: Target) {
    let (unary_client, unary_target) = (client.clone(), target.clone());
    server.handle_any(move |req: Request| {
        let (client, target) = (unary_client.clone(), unary_target.clone());
        async move {
            let (service, opts) = route(&req, &target)?;
            let reply = client.call(&service, &req.endpoint, req.body, &opts).await?;
            Ok(Response { body: reply.body, content_type: Some(reply.content_type).filter(|c| !c.is_empty()) })
        }
    });
    server.handle_any_stream(move |req: Request, stream: ServerStream| {
        let (client, target) = (client.clone(), target.clone());
        async move {
            let (service, opts) = route(&req, &target)?;
            let upstream = client.stream(&service, &req.endpoint, &opts).await?;
            relay(stream, upstream).await
        }
    });
}

/// Where a call or stream goes, and the options that carry its metadata, content type and
/// deadline there; a 400 for one that names the proxy itself with nowhere else to go.
fn route(req: &Request, target: &Target) -> micro::Result<(String, CallOptions)> {
    let mut opts = CallOptions::from_request(req);
    opts.content_type = Some(req.content_type.clone());
    let service = match target {
        Target::Route => req.service.clone(),
        Target::Service(s) => s.clone(),
        Target::Address(a) => {
            opts.address = vec![a.clone()];
            req.service.clone()
        }
    };
    if service == SERVICE && opts.address.is_empty() {
        return Err(micro::Error::bad_request(
            SERVICE,
            format!("{} names the proxy itself: nothing to forward it to", req.endpoint),
        ));
    }
    Ok((service, opts))
}

/// Carries a stream both ways until the service ends it: each message of the caller goes
/// to the service and each of the service's to the caller, in order. The caller's end
/// (its `EOS`) is passed on and the service may still answer; the service's end (its `EOS`,
/// or its error) ends the caller's stream the same way.
async fn relay(caller: ServerStream, service: ClientStream) -> micro::Result<()> {
    let (to_caller, mut from_caller) = caller.split();
    let (mut to_service, mut from_service) = service.split();
    let uplink = async move {
        while let Some(msg) = from_caller.recv().await {
            to_service.send(msg?).await?;
        }
        to_service.close_send().await
    };
    let downlink = async move {
        while let Some(msg) = from_service.recv().await? {
            to_caller.send(msg).await?;
        }
        Ok(())
    };
    tokio::pin!(downlink);
    tokio::select! {
        done = &mut downlink => done,
        sent = uplink => match sent {
            Ok(()) => downlink.await,
            Err(e) => Err(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn a_target_is_an_address_when_it_has_a_port() {
        assert_eq!(Target::parse(None), Target::Route);
        assert_eq!(Target::parse(Some(" ")), Target::Route);
        assert_eq!(Target::parse(Some("127.0.0.1:9090")), Target::Address("127.0.0.1:9090".into()));
        assert_eq!(Target::parse(Some("[::1]:9090")), Target::Address("[::1]:9090".into()));
        assert_eq!(Target::parse(Some("go.micro.srv.greeter")), Target::Service("go.micro.srv.greeter".into()));
    }
}
