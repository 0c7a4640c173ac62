//! `micro call SERVICE ENDPOINT [JSON]` (also `micro query`): one request through the client
//! (registry lookup, selector, retries), straight to `--address`, or through the sidecar of
//! `--proxy_address` (its `/rpc`), the reply printed as
//! indented JSON or raw bytes.

use crate::cmd::{call_failure, json_arg, print_body, Outcome};
use crate::session::{call_options, client_for, Session};
use crate::{Opts, Output};

/// Calls `service`'s `endpoint` with the JSON of `request` (default `{}`).
pub async fn run(service: &str, endpoint: &str, request: &[String], opts: &Opts, sess: &Session) -> Outcome {
    let body = json_arg("the request", request, "{}")?;
    if let Some(remote) = &sess.proxy {
        return match remote.call(service, endpoint, &body, opts.address.as_deref()).await {
            Ok(reply) => {
                print_body(&reply, opts.output.unwrap_or(Output::Json));
                Ok(())
            }
            Err(e) => Err(call_failure(sess, opts, &format!("{service}.{endpoint}"), &e)),
        };
    }
    let client = client_for(sess, opts).await?;
    match client.call(service, endpoint, body.into_bytes(), &call_options(opts)).await {
        Ok(reply) => {
            print_body(&reply.body, opts.output.unwrap_or(Output::Json));
            Ok(())
        }
        Err(e) => Err(call_failure(sess, opts, &format!("{service}.{endpoint}"), &e)),
    }
}
