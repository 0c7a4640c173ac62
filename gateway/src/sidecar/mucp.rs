//! The transparent RPC proxy (`micro proxy --protocol=mucp`; spec P14, P15, go-micro's
//! `proxy/mucp`): a go-micro RPC server, registered as `go.micro.proxy`, that forwards every
//! unary call it receives. A go-micro client sends it everything with `MICRO_PROXY=HOST:PORT`
//! (or `MICRO_PROXY=service`, through the registry): go-micro v4 and v5 clients honour it.
//!
//! Without a fixed target the call goes to the service its `Micro-Service` header names, found
//! in the proxy's registry; `--endpoint` (alias `--backend`) fixes the target instead: a
//! service name, or a `host:port` called directly. Body, content type and metadata travel
//! untouched, the caller's deadline with them; the answer and errors come back as the
//! service sent them. Streams are not forwarded (the catch-all serves unary calls).

use micro::{CallOptions, Client, Request, Response, Server};

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

/// Makes `server` forward every unary call it receives, through `client`, to `target`.
pub fn forward(server: &Server, client: Client, target: Target) {
    server.handle_any(move |req: Request| {
        let (client, target) = (client.clone(), target.clone());
        async move {
            let mut opts = CallOptions::from_request(&req);
            opts.content_type = Some(req.content_type.clone());
            let service = match target {
                Target::Route => req.service.clone(),
                Target::Service(s) => s,
                Target::Address(a) => {
                    opts.address = vec![a];
                    req.service.clone()
                }
            };
            if service == SERVICE && opts.address.is_empty() {
                return Err(micro::Error::bad_request(
                    SERVICE,
                    format!("{} names the proxy itself: nothing to forward it to", req.endpoint),
                ));
            }
            let reply = client.call(&service, &req.endpoint, req.body, &opts).await?;
            Ok(Response { body: reply.body, content_type: Some(reply.content_type).filter(|c| !c.is_empty()) })
        }
    });
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
