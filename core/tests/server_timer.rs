//! A handler that waits (a Python, Node or C handler behind its inbox, or an async Rust one)
//! sets its caller's timeout on the server's runtime without waking that runtime's timer
//! driver each call (issue 18: 0.23 needless wake-ups a call at 64 in flight, most of a
//! Node-served greeter's `write` calls). Counted with the runtime's own park count, not
//! timed: a wake-up shows as the worker going to sleep twice where once would do.

use micro::registry::memory::Memory;
use micro::registry::Registry;
use micro::server::{Request, Response, Server, ServerOptions};
use micro::{CallOptions, Client, ClientOptions};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

fn one_worker() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime")
}

#[test]
fn a_waiting_handler_sets_its_callers_timeout_without_waking_the_runtime() {
    let server_rt = one_worker();
    let client_rt = one_worker();
    let registry: Arc<dyn Registry> = Arc::new(Memory::new());
    let mut opts = ServerOptions::new("waiter");
    opts.address = "127.0.0.1:0".into();
    let server = Server::new(opts, Arc::clone(&registry));
    // Each call's handler says it started, then waits until this thread lets it answer.
    let (entered_tx, entered) = mpsc::channel::<()>();
    let release: Arc<Mutex<Option<oneshot::Receiver<()>>>> = Arc::default();
    {
        let release = Arc::clone(&release);
        let entered_tx = Mutex::new(entered_tx);
        server.handle("Wait.Hello", move |_req: Request| {
            let rx = release.lock().expect("lock").take();
            let _ = entered_tx.lock().expect("lock").send(());
            async move {
                if let Some(rx) = rx {
                    let _ = rx.await;
                }
                Ok(Response::from(b"{}\n".to_vec()))
            }
        });
    }
    server_rt.block_on(server.start()).expect("server starts");
    let address = server.bound().expect("bound").to_string();
    let client = Arc::new(Client::new(registry, ClientOptions::default()));
    // go-micro's default timeout: shorter than the re-registration interval (30 s) and the
    // connection's idle timer (120 s), so without a keeper each call's timer comes before
    // every timer the driver sleeps with.
    let call_opts = CallOptions {
        address: vec![address],
        timeout: Some(Duration::from_secs(5)),
        content_type: Some("application/json".into()),
        ..CallOptions::default()
    };

    let parks = || server_rt.metrics().worker_park_count(0);
    // Waits until the worker has gone to sleep since `n` (an event, no time bound).
    let parked_after = |n: u64| {
        while parks() <= n {
            std::thread::yield_now();
        }
    };
    let mut arming_wakes = 0;
    for i in 0..23 {
        let (release_tx, release_rx) = oneshot::channel();
        *release.lock().expect("lock") = Some(release_rx);
        let p0 = parks();
        let (done_tx, done) = mpsc::channel();
        let (c, o) = (Arc::clone(&client), call_opts.clone());
        client_rt.spawn(async move {
            let r = c.call("waiter", "Wait.Hello", &b"{}"[..], &o).await;
            let _ = done_tx.send(r.map(|r| r.body));
        });
        entered.recv().expect("the handler started");
        // The worker goes to sleep once the handler waits; a driver woken to re-arm for the
        // call's timeout makes it sleep a second time with nothing to do, microseconds later.
        // A loaded machine can only push that past the grace period: a pass for the wrong
        // reason, never a failure for one.
        parked_after(p0);
        std::thread::sleep(Duration::from_millis(20));
        let sleeps = parks() - p0;
        // The first three start the keeper (and let the worker settle).
        if sleeps > 1 && i >= 3 {
            arming_wakes += 1;
        }
        let p2 = parks();
        release_tx.send(()).expect("the handler waits");
        let body = done.recv().expect("the call ended").expect("the call succeeded");
        assert_eq!(&body[..], b"{}\n");
        parked_after(p2);
        // Let the driver note its deadline as it goes to sleep (too short a wait only lets
        // the next call find an earlier deadline: a pass, not a failure).
        std::thread::sleep(Duration::from_millis(5));
    }
    // The keeper's own tick (once a second) may fall inside a grace period or two.
    assert!(arming_wakes <= 4, "{arming_wakes} of 20 waiting handlers woke the runtime to set their timeout");
    server_rt.block_on(server.stop()).expect("stop");
}
