//! Leak soak (checklist §4.4 items 18 and 28): tens of thousands of calls and
//! hundreds of streams with injected failures — handler errors, timeouts, a
//! registered node that refuses connections, streams dropped mid-way or ended
//! by a server error. Memory stops growing after warm-up, and once the servers
//! stop and the client is dropped, open files and runtime tasks come back to
//! where they were before the test began.
//!
//! One test in its own binary, so no other test's sockets or tasks are counted.

mod common;

use common::{alive_tasks, open_fds, rss_kib};
use futures::stream::{self, StreamExt};
use micro::registry::memory::Memory;
use micro::registry::Registry;
use micro::{CallOptions, Client, ClientOptions, Error, Server, ServerOptions};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Calls per round; two rounds, memory compared between them. A leak of 100
/// bytes a call would grow the second round by 5 MiB, which fails the test.
const ROUND: u64 = 50_000;
/// Calls in flight at once.
const IN_FLIGHT: usize = 64;

/// A server whose `Soak.Maybe` fails every 10th call with a 500 and sleeps
/// past the caller's deadline on every 100th; `Soak.Stream` echoes until the
/// message "fail", which ends the stream with a 409.
async fn flaky(reg: Arc<dyn Registry>) -> Server {
    let mut o = ServerOptions::new("soak");
    o.address = "127.0.0.1:0".into();
    o.drain_timeout = Duration::from_secs(2);
    let server = Server::new(o, reg);
    let n = Arc::new(AtomicU64::new(0));
    server.handle("Soak.Maybe", move |req| {
        let i = n.fetch_add(1, Ordering::Relaxed);
        async move {
            if i % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(150)).await;
            } else if i % 10 == 9 {
                return Err(Error::internal("soak", "injected failure"));
            }
            Ok(micro::Response { body: req.body, content_type: None })
        }
    });
    server.handle_stream("Soak.Stream", |_, mut stream| async move {
        while let Some(msg) = stream.recv().await {
            let msg = msg?;
            if &msg[..] == b"fail" {
                return Err(Error::new("soak", "stream refused", 409));
            }
            stream.send(msg).await?;
        }
        Ok(())
    });
    server.start().await.expect("server starts");
    server
}

/// Runs `count` calls, `IN_FLIGHT` at a time, and returns (ok, failed) counts.
async fn round(client: &Client, count: u64) -> (u64, u64) {
    let opts = CallOptions { timeout: Some(Duration::from_millis(60)), ..Default::default() };
    let results: Vec<bool> = stream::iter(0..count)
        .map(|i| {
            let opts = &opts;
            async move {
                let body = format!("{{\"n\":{i}}}");
                match client.call("soak", "Soak.Maybe", body.clone(), opts).await {
                    Ok(reply) => {
                        assert_eq!(reply.body, body.as_bytes(), "an answered call returns its own body");
                        true
                    }
                    Err(e) => {
                        assert!(e.code == 500 || e.code == 408, "only injected failures: {e}");
                        false
                    }
                }
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let ok = results.iter().filter(|&&ok| ok).count() as u64;
    (ok, count - ok)
}

/// Opens `count` streams, 32 at a time: a quarter end cleanly, a quarter are
/// dropped after one answer, a quarter are ended by a server error, and a
/// quarter are dropped before anything is read.
async fn streams(client: &Client, count: u64) {
    stream::iter(0..count)
        .for_each_concurrent(32, |i| async move {
            let mut s = client.stream("soak", "Soak.Stream", &CallOptions::default()).await.expect("stream opens");
            match i % 4 {
                0 => {
                    for k in 0..3 {
                        s.send(format!("m{k}")).await.expect("send");
                        assert_eq!(s.recv().await.expect("recv").as_deref(), Some(format!("m{k}").as_bytes()));
                    }
                    s.close_send().await.expect("close_send");
                    assert!(s.recv().await.expect("end").is_none(), "end of stream after close_send");
                }
                1 => {
                    s.send("once").await.expect("send");
                    assert!(s.recv().await.expect("recv").is_some());
                    drop(s);
                }
                2 => {
                    s.send("fail").await.expect("send");
                    let err = s.recv().await.expect_err("the server's error, not an end of stream");
                    assert_eq!(err.code, 409, "{err}");
                }
                _ => {
                    s.send("never read").await.expect("send");
                    drop(s);
                }
            }
        })
        .await;
}

/// Waits up to `limit` for `f` to be true; returns whether it became true.
async fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_and_streams_with_failures_leak_nothing() {
    let fds_before = open_fds();
    let tasks_before = alive_tasks();
    {
        let reg: Arc<dyn Registry> = Arc::new(Memory::new());
        let a = flaky(reg.clone()).await;
        let b = flaky(reg.clone()).await;
        // A registered node nobody listens on, as after a SIGKILL.
        let dead = flaky(reg.clone()).await;
        let dead_svc = dead.service().expect("registered");
        dead.stop().await.expect("stop");
        reg.register(&dead_svc, Default::default()).await.expect("re-register the dead node");
        let client = Client::new(reg.clone(), ClientOptions::default());

        let started = Instant::now();
        let (ok1, failed1) = round(&client, ROUND).await;
        streams(&client, 400).await;
        let rss_warm = rss_kib();
        let (ok2, failed2) = round(&client, ROUND).await;
        streams(&client, 400).await;
        let rss_after = rss_kib();
        let elapsed = started.elapsed();
        eprintln!(
            "soak: {} calls ({} failed as injected) and 800 streams in {:.1} s; RSS {} KiB after warm-up, {} KiB after the second round",
            2 * ROUND,
            failed1 + failed2,
            elapsed.as_secs_f64(),
            rss_warm,
            rss_after
        );
        // Injected: 1 in 10 handler errors, 1 in 100 timeouts; the dead node's
        // refusals are retried on a live one and never reach the caller.
        for (ok, failed) in [(ok1, failed1), (ok2, failed2)] {
            assert!((ROUND * 8 / 100..=ROUND * 12 / 100).contains(&failed), "{failed} of {ROUND} failed");
            assert_eq!(ok + failed, ROUND);
        }
        assert!(
            rss_after < rss_warm + 5 * 1024,
            "RSS grew from {rss_warm} KiB to {rss_after} KiB over the second round"
        );

        drop(client);
        a.stop().await.expect("stop a");
        b.stop().await.expect("stop b");
    }
    let fds_back = eventually(Duration::from_secs(5), || open_fds() <= fds_before).await;
    assert!(fds_back, "open files: {} before, {} after everything stopped", fds_before, open_fds());
    let tasks_back = eventually(Duration::from_secs(5), || alive_tasks() <= tasks_before).await;
    assert!(tasks_back, "runtime tasks: {} before, {} after everything stopped", tasks_before, alive_tasks());
}
