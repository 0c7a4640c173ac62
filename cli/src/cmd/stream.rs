//! `micro stream SERVICE ENDPOINT [JSON…]`: a bidirectional stream. Each argument, or each
//! stdin line when there are none, is one message; replies are printed as they arrive.
//!
//! go-micro servers never end a stream (their client hangs up), so besides the service's end
//! of stream, a quiet second after the last reply, once all input is sent, ends it normally.
//! With `--proxy_address` the stream goes through the sidecar's `/rpc` websocket.

use crate::cmd::{call_failure, print_body, Failure, Outcome};
use crate::format;
use crate::session::{call_options, client_for, Session};
use crate::{Opts, Output};
use micro::Error;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

/// How long `stream` waits for a reply to one message before sending the next. go-micro
/// servers mix up messages that arrive back to back (a v5 bidi handler answered the last
/// one twice), so messages are paced: the next goes out after a reply, or after this.
const STREAM_PACE: Duration = Duration::from_millis(150);

/// After the last message is sent and a reply has come, this much silence ends the stream.
const STREAM_QUIET: Duration = Duration::from_secs(1);

/// Streams `messages` (or stdin lines) to `service`'s `endpoint`, printing every reply.
pub async fn run(service: &str, endpoint: &str, messages: Vec<String>, opts: &Opts, sess: &Session) -> Outcome {
    for (i, m) in messages.iter().enumerate() {
        format::parse_json(&format!("message {}", i + 1), m).map_err(Failure::Usage)?;
    }
    let what = format!("{service}.{endpoint}");
    // The receiving half runs on its own task; its messages come through a channel, which
    // can be waited on with a deadline without losing a half-read message.
    let (fwd, mut replies) = tokio::sync::mpsc::unbounded_channel();
    macro_rules! forward {
        ($rx:ident) => {
            tokio::spawn(async move {
                loop {
                    let r = $rx.recv().await;
                    let last = !matches!(r, Ok(Some(_)));
                    if fwd.send(r).is_err() || last {
                        return;
                    }
                }
            })
        };
    }
    let (mut tx, node, reader) = match &sess.proxy {
        // Through the sidecar: its `/rpc` websocket.
        Some(remote) => {
            let (tx, mut rx) =
                remote.stream(service, endpoint).await.map_err(|e| call_failure(sess, opts, &what, &e))?;
            (Sender::Proxy(tx), format!("the sidecar at {}", remote.base()), forward!(rx))
        }
        None => {
            let client = client_for(sess, opts).await?;
            let s = client
                .stream(service, endpoint, &call_options(opts))
                .await
                .map_err(|e| call_failure(sess, opts, &what, &e))?;
            let node = s.node().to_string();
            let (tx, mut rx) = s.split();
            (Sender::Mesh(tx), node, forward!(rx))
        }
    };
    let output = opts.output.unwrap_or(Output::Json);
    let printed = std::cell::Cell::new(false);
    // Prints one reply; Some(outcome) when the stream is over.
    let show = |r: Option<micro::Result<Option<bytes::Bytes>>>| -> Option<Outcome> {
        match r {
            Some(Ok(Some(body))) => {
                print_body(&body, output);
                printed.set(true);
                None
            }
            Some(Ok(None)) | None => Some(Ok(())),
            Some(Err(e)) => Some(Err(Failure::Failed(format!("error receiving from {what}: {e}")))),
        }
    };
    let send_err = |e: Error| Failure::Failed(format!("error sending to {what} on node {node}: {e}"));
    let mut sent = 0usize;
    let mut stdin = (messages.is_empty()).then(|| tokio::io::BufReader::new(tokio::io::stdin()).lines());
    let mut queue = messages.into_iter();
    let finished = 'outer: loop {
        let next = match stdin.as_mut() {
            None => queue.next(),
            Some(lines) => {
                // A person may type slowly: print replies while waiting for the next line.
                let line = loop {
                    tokio::select! {
                        l = lines.next_line() => break l.ok().flatten(),
                        r = replies.recv() => if let Some(done) = show(r) { break 'outer Some(done) },
                    }
                };
                match line {
                    Some(l) if l.trim().is_empty() => continue,
                    Some(l) => {
                        format::parse_json(&format!("stdin message {}", sent + 1), &l).map_err(Failure::Usage)?;
                        Some(l)
                    }
                    None => None,
                }
            }
        };
        let Some(msg) = next else { break None };
        tx.send(msg.into_bytes()).await.map_err(send_err)?;
        sent += 1;
        if let Ok(r) = tokio::time::timeout(STREAM_PACE, replies.recv()).await {
            if let Some(done) = show(r) {
                break Some(done);
            }
        }
    };
    if let Some(done) = finished {
        reader.abort();
        return done;
    }
    tx.close_send().await.map_err(send_err)?;
    // Our servers end a stream with EOS; go-micro servers never do (their client just hangs
    // up). So once something came back, a quiet STREAM_QUIET after the last reply ends the
    // stream normally; only a service that says nothing at all is an error.
    let idle = opts.client_request_timeout;
    let mut got = printed.get();
    let outcome = loop {
        let wait = if got { STREAM_QUIET.min(idle) } else { idle };
        match tokio::time::timeout(wait, replies.recv()).await {
            Ok(r) => {
                if let Some(done) = show(r) {
                    break done;
                }
                got = true;
            }
            Err(_) if got => break Ok(()),
            Err(_) => {
                break Err(Failure::Failed(format!(
                    "error receiving from {what}: node {node} sent nothing within --client_request_timeout={idle:?}"
                )))
            }
        }
    };
    reader.abort();
    drop(tx);
    outcome
}

/// The sending half of a stream: to the service, or through a sidecar.
enum Sender {
    Mesh(micro::client::StreamSendHalf),
    Proxy(micro_gateway::sidecar::remote::RemoteSend),
}

impl Sender {
    async fn send(&mut self, body: Vec<u8>) -> micro::Result<()> {
        match self {
            Sender::Mesh(tx) => tx.send(body).await,
            Sender::Proxy(tx) => tx.send(body).await,
        }
    }

    async fn close_send(&mut self) -> micro::Result<()> {
        match self {
            Sender::Mesh(tx) => tx.close_send().await,
            Sender::Proxy(tx) => tx.close_send().await,
        }
    }
}
