//! `micro call SERVICE ENDPOINT [JSON]` (also `micro query`): one request through the client
//! (registry lookup, selector, retries), straight to `--address`, or through the sidecar of
//! `--proxy_address` (its `/rpc`), the reply printed as
//! indented JSON or raw bytes. `micro bot`'s `call` makes the same call ([`reply`]).

use crate::cmd::{call_failure, json_arg, print_body, Failure, Outcome};
use crate::session::{call_options, client_for, Session};
use crate::{Opts, Output};
use bytes::Bytes;

/// Calls `service`'s `endpoint` with the JSON of `request` (default `{}`): the reply body as
/// the service sent it, or the failure `micro call` prints.
pub async fn reply(
    service: &str,
    endpoint: &str,
    request: &[String],
    opts: &Opts,
    sess: &Session,
) -> Result<Bytes, Failure> {
    let body = json_arg("the request", request, "{}")?;
    let reply = match &sess.proxy {
        Some(remote) => remote.call(service, endpoint, &body, opts.address.as_deref()).await,
        None => {
            let client = client_for(sess, opts).await?;
            client.call(service, endpoint, body.into_bytes(), &call_options(opts)).await.map(|r| r.body)
        }
    };
    reply.map_err(|e| call_failure(sess, opts, &format!("{service}.{endpoint}"), &e))
}

/// Calls `service`'s `endpoint` with the JSON of `request` (default `{}`) and prints the reply.
pub async fn run(service: &str, endpoint: &str, request: &[String], opts: &Opts, sess: &Session) -> Outcome {
    let body = reply(service, endpoint, request, opts, sess).await?;
    print_body(&body, opts.output.unwrap_or(Output::Json));
    Ok(())
}
