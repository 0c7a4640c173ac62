//! The HTTP transport over TLS, Rust ↔ Rust on loopback: trusted, untrusted and plain
//! clients against a TLS server, unary calls and streams, and the configuration from
//! go-micro-style environment variables.

use micro::config::Config;
use micro::registry::memory::Memory;
use micro::registry::Registry;
use micro::transport::tls;
use micro::{CallOptions, Client, ClientOptions, Server, ServerOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn tls_greeter(registry: Arc<dyn Registry>, config: Arc<rustls::ServerConfig>) -> Server {
    let mut o = ServerOptions::new("secure");
    o.address = "127.0.0.1:0".into();
    o.tls = Some(config);
    let server = Server::new(o, registry);
    server.handle("Greeter.Echo", |req| async move { Ok(micro::Response { body: req.body, content_type: None }) });
    server.handle_stream("Greeter.Stream", |_, mut stream| async move {
        while let Some(msg) = stream.recv().await {
            stream.send(msg?).await?;
        }
        Ok(())
    });
    server.start().await.unwrap();
    server
}

fn client(registry: Arc<dyn Registry>, tls: Option<Arc<rustls::ClientConfig>>) -> Client {
    Client::new(
        registry,
        ClientOptions {
            retries: 0,
            request_timeout: Duration::from_secs(3),
            conn_timeout: Duration::from_secs(3),
            tls,
            ..ClientOptions::default()
        },
    )
}

#[tokio::test]
async fn trusted_clients_call_and_stream_others_are_refused() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let (server_config, ca) = tls::self_signed(&["127.0.0.1".to_string()]).unwrap();
    let server = tls_greeter(reg.clone(), server_config).await;
    let node = &server.service().unwrap().nodes[0];
    assert_eq!(node.metadata.get("secure").map(String::as_str), Some("true"));

    // Trusting the server's certificate: unary and stream work.
    let trusted = client(reg.clone(), Some(tls::client_config(ca.as_bytes()).unwrap()));
    let reply = trusted.call("secure", "Greeter.Echo", "over tls", &CallOptions::default()).await.unwrap();
    assert_eq!(&reply.body[..], b"over tls");
    let again = trusted.call("secure", "Greeter.Echo", "pooled", &CallOptions::default()).await.unwrap();
    assert_eq!(&again.body[..], b"pooled");
    let mut stream = trusted.stream("secure", "Greeter.Stream", &CallOptions::default()).await.unwrap();
    for m in ["a", "b"] {
        stream.send(m).await.unwrap();
        assert_eq!(&stream.recv().await.unwrap().unwrap()[..], m.as_bytes());
    }
    stream.close_send().await.unwrap();

    // Trusting anything (go-micro's InsecureSkipVerify) also connects.
    let insecure = client(reg.clone(), Some(tls::insecure_client_config().unwrap()));
    assert_eq!(&insecure.call("secure", "Greeter.Echo", "x", &CallOptions::default()).await.unwrap().body[..], b"x");

    // A client trusting another CA is refused by the handshake, quickly.
    let (_, other_ca) = tls::self_signed(&["127.0.0.1".to_string()]).unwrap();
    let wrong = client(reg.clone(), Some(tls::client_config(other_ca.as_bytes()).unwrap()));
    let started = Instant::now();
    let e = wrong.call("secure", "Greeter.Echo", "x", &CallOptions::default()).await.unwrap_err();
    assert!(e.detail.to_lowercase().contains("certificate"), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // A plain client gets an error, not a hang; the server stays up for good clients.
    let plain = client(reg.clone(), None);
    let started = Instant::now();
    assert!(plain.call("secure", "Greeter.Echo", "x", &CallOptions::default()).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    assert_eq!(
        &trusted.call("secure", "Greeter.Echo", "still", &CallOptions::default()).await.unwrap().body[..],
        b"still"
    );
    server.stop().await.unwrap();
}

#[test]
fn environment_turns_tls_on_and_refuses_a_client_that_trusts_nothing() {
    let dir = std::env::temp_dir().join(format!("micro-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_, ca) = tls::self_signed(&["127.0.0.1".to_string()]).unwrap();
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, &ca).unwrap();

    let env = |pairs: &'static [(&'static str, &'static str)], ca: Option<String>| {
        move |k: &str| {
            if k == "MICRO_TLS_CA" {
                return ca.clone();
            }
            pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        }
    };
    let apply = |cfg: &Config| {
        let (mut s, mut c) = (ServerOptions::new("x"), ClientOptions::default());
        cfg.apply_tls(&mut s, &mut c).map(|()| (s.tls.is_some(), c.tls.is_some()))
    };

    let off = Config::from_lookup(env(&[], None)).unwrap();
    assert_eq!(apply(&off).unwrap(), (false, false));
    let with_ca =
        Config::from_lookup(env(&[("MICRO_TRANSPORT_SECURE", "true")], Some(ca_path.display().to_string()))).unwrap();
    assert_eq!(apply(&with_ca).unwrap(), (true, true), "self-signed server, CA-trusting client");
    let insecure = Config::from_lookup(env(&[("MICRO_TLS_INSECURE", "true")], None)).unwrap();
    assert_eq!(apply(&insecure).unwrap(), (true, true));
    let nothing = Config::from_lookup(env(&[("MICRO_TRANSPORT_SECURE", "true")], None)).unwrap();
    let e = apply(&nothing).unwrap_err();
    assert!(e.detail.contains("MICRO_TLS_CA") && e.detail.contains("MICRO_TLS_INSECURE"), "{}", e.detail);
    let half =
        Config::from_lookup(env(&[("MICRO_TLS_CERT", "/nonexistent.pem"), ("MICRO_TLS_INSECURE", "1")], None)).unwrap();
    assert!(apply(&half).unwrap_err().detail.contains("go together"));
    assert!(Config::from_lookup(env(&[("MICRO_TRANSPORT_SECURE", "yes please")], None)).is_err());
    let missing =
        Config::from_lookup(env(&[("MICRO_TLS_INSECURE", "true")], Some("/nonexistent/ca.pem".into()))).unwrap();
    assert!(apply(&missing).unwrap_err().detail.contains("MICRO_TLS_CA"));
    let _ = std::fs::remove_dir_all(&dir);
}
