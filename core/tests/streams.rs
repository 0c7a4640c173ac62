//! Streams where go-micro's went wrong (checklist §4.4 items 26–29; go-micro #1223, #476,
//! #384, #940): 10,000 round trips on one stream without a stall; a client's half-close is
//! an end of stream for the server, which may still answer; a client that goes away ends
//! the server's stream; and a reader that does not read holds its writer back instead of
//! letting memory grow. A stream whose handler has ended does not hold the server's drain.

mod common;

use common::rss_kib;
use micro::registry::memory::Memory;
use micro::registry::Registry;
use micro::{CallOptions, Client, ClientOptions, Server, ServerOptions};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the server's stream handlers saw.
#[derive(Default)]
struct Seen {
    /// `Streams.Gone` handlers that saw their stream end.
    gone_ended: AtomicUsize,
    /// Messages `Streams.Flood` had sent when its stream ended.
    flood_sent: AtomicUsize,
}

const FLOOD: usize = 20_000;
const FLOOD_SIZE: usize = 1024;

async fn server(reg: Arc<dyn Registry>, seen: Arc<Seen>) -> Server {
    let mut o = ServerOptions::new("streams");
    o.address = "127.0.0.1:0".into();
    let server = Server::new(o, reg);
    // Echoes each message.
    server.handle_stream("Streams.Echo", |_, mut s| async move {
        while let Some(m) = s.recv().await {
            s.send(m?).await?;
        }
        Ok(())
    });
    // Counts what the client sends until its half-close, then answers with the count.
    server.handle_stream("Streams.Count", |_, mut s| async move {
        let mut n = 0u32;
        while let Some(m) = s.recv().await {
            m?;
            n += 1;
        }
        s.send(format!("{n}")).await?;
        Ok(())
    });
    // Waits for messages until the stream ends, however it ends.
    let gone = seen.clone();
    server.handle_stream("Streams.Gone", move |_, mut s| {
        let gone = gone.clone();
        async move {
            while let Some(Ok(_)) = s.recv().await {}
            gone.gone_ended.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    // Sends FLOOD messages of FLOOD_SIZE bytes as fast as it is let.
    let flood = seen.clone();
    server.handle_stream("Streams.Flood", move |_, s| {
        let flood = flood.clone();
        async move {
            let body = bytes::Bytes::from(vec![b'x'; FLOOD_SIZE]);
            for i in 0..FLOOD {
                if s.send(body.clone()).await.is_err() {
                    break;
                }
                flood.flood_sent.store(i + 1, Ordering::SeqCst);
            }
            Ok(())
        }
    });
    server.start().await.expect("server starts");
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_ping_pong_half_close_cancel_and_backpressure() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let seen = Arc::new(Seen::default());
    let srv = server(reg.clone(), seen.clone()).await;
    let client = Client::new(reg, ClientOptions::default());
    let opts = CallOptions::default();

    // 10,000 round trips on one stream, each answer checked.
    let started = Instant::now();
    let mut s = client.stream("streams", "Streams.Echo", &opts).await.expect("open");
    for i in 0..10_000u32 {
        s.send(i.to_string()).await.expect("send");
        assert_eq!(s.recv().await.expect("recv").as_deref(), Some(i.to_string().as_bytes()));
    }
    s.close_send().await.expect("close_send");
    assert_eq!(s.recv().await.expect("end"), None);
    eprintln!("streams: 10,000 round trips in {:.2} s", started.elapsed().as_secs_f64());

    // Half-close: the server's recv sees the end (#1223) and it can still answer.
    let mut s = client.stream("streams", "Streams.Count", &opts).await.expect("open");
    for _ in 0..5 {
        s.send("x").await.expect("send");
    }
    s.close_send().await.expect("close_send");
    assert!(s.send("late").await.is_err(), "no send after close_send");
    let t = Instant::now();
    assert_eq!(s.recv().await.expect("the count").as_deref(), Some(&b"5"[..]));
    assert!(t.elapsed() < Duration::from_secs(2), "the server saw the half-close late: {:?}", t.elapsed());
    assert_eq!(s.recv().await.expect("end"), None);

    // A client that goes away (dropped, or closed) ends the server's stream.
    let t = Instant::now();
    for close in [false, true] {
        let before = seen.gone_ended.load(Ordering::SeqCst);
        let mut s = client.stream("streams", "Streams.Gone", &opts).await.expect("open");
        s.send("hello").await.expect("send");
        if close {
            s.close().await.expect("close");
        } else {
            drop(s);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while seen.gone_ended.load(Ordering::SeqCst) == before {
            assert!(Instant::now() < deadline, "the server's stream did not end (close: {close})");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    eprintln!("streams: both departures seen by the server in {:.2} s", t.elapsed().as_secs_f64());

    // Backpressure: the server floods 20 MB at a reader that does not read for a second.
    // The server is held back (socket buffers, not memory, take the excess); then every
    // message arrives, in full.
    let rss_before = rss_kib();
    let mut s = client.stream("streams", "Streams.Flood", &opts).await.expect("open");
    s.send("go").await.expect("send");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent = seen.flood_sent.load(Ordering::SeqCst);
    let rss_stalled = rss_kib();
    assert!(sent < FLOOD / 2, "the writer was not held back: {sent} of {FLOOD} sent to a reader that read nothing");
    let mut got = 0;
    let reading = Instant::now();
    while let Some(m) = s.recv().await.expect("flood message") {
        assert_eq!(m.len(), FLOOD_SIZE);
        got += 1;
    }
    eprintln!(
        "streams: a stalled reader held the writer at {sent} of {FLOOD} messages; RSS {rss_before} -> {rss_stalled} KiB; \
         all read in {:.2} s",
        reading.elapsed().as_secs_f64()
    );
    assert_eq!(got, FLOOD, "every flooded message arrived");
    assert!(rss_stalled < rss_before + 8 * 1024, "RSS grew from {rss_before} to {rss_stalled} KiB while stalled");
    // The flood stream is still open on the client, but its handler has ended: it does not
    // hold the server's drain (10 s by default) — stop returns at once.
    let t = Instant::now();
    srv.stop().await.expect("stop");
    eprintln!("streams: stop took {:.2} s", t.elapsed().as_secs_f64());
    assert!(t.elapsed() < Duration::from_secs(3), "a finished stream held the drain for {:?}", t.elapsed());
    drop(s);
}
