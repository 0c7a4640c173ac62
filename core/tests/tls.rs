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

/// A CA (its certificate PEM and its key) and leaf certificates it signs.
struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl TestCa {
    fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().unwrap();
        TestCa { cert: params.self_signed(&key).unwrap(), key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A leaf certificate for `names` (server or client use), as (cert PEM, key PEM).
    fn leaf(&self, names: &[&str]) -> (String, String) {
        let params = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Mutual TLS: a server that requires client certificates signed by its client CA answers a
/// client presenting one, and refuses — in the handshake, with an error — a client with
/// none, and one whose certificate another CA signed.
#[tokio::test]
async fn server_requiring_client_certificates_answers_only_clients_with_one() {
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let ca = TestCa::new("micro test CA");
    let (server_cert, server_key) = ca.leaf(&["127.0.0.1", "localhost"]);
    let config =
        tls::server_config_checking_clients(server_cert.as_bytes(), server_key.as_bytes(), Some(ca.pem().as_bytes()))
            .unwrap();
    let server = tls_greeter(reg.clone(), config).await;

    let (client_cert, client_key) = ca.leaf(&["client.micro"]);
    let with_cert = client(
        reg.clone(),
        Some(
            tls::client_config_with_identity(ca.pem().as_bytes(), client_cert.as_bytes(), client_key.as_bytes())
                .unwrap(),
        ),
    );
    let reply = with_cert.call("secure", "Greeter.Echo", "mutual", &CallOptions::default()).await.unwrap();
    assert_eq!(&reply.body[..], b"mutual");
    let mut stream = with_cert.stream("secure", "Greeter.Stream", &CallOptions::default()).await.unwrap();
    stream.send("s").await.unwrap();
    assert_eq!(&stream.recv().await.unwrap().unwrap()[..], b"s");
    stream.close_send().await.unwrap();

    // The insecure client with an identity also gets in (it skips checking the server only).
    let insecure = client(
        reg.clone(),
        Some(tls::insecure_client_config_with_identity(Some((client_cert.as_bytes(), client_key.as_bytes()))).unwrap()),
    );
    assert_eq!(&insecure.call("secure", "Greeter.Echo", "i", &CallOptions::default()).await.unwrap().body[..], b"i");

    let without = client(reg.clone(), Some(tls::client_config(ca.pem().as_bytes()).unwrap()));
    let e = without.call("secure", "Greeter.Echo", "x", &CallOptions::default()).await.unwrap_err();
    assert!(e.detail.to_lowercase().contains("certificate") || e.detail.contains("closed"), "{e:?}");

    let other = TestCa::new("another CA");
    let (other_cert, other_key) = other.leaf(&["client.micro"]);
    let foreign = client(
        reg.clone(),
        Some(
            tls::client_config_with_identity(ca.pem().as_bytes(), other_cert.as_bytes(), other_key.as_bytes()).unwrap(),
        ),
    );
    assert!(foreign.call("secure", "Greeter.Echo", "x", &CallOptions::default()).await.is_err());

    // The refused clients did not take the server down.
    assert_eq!(
        &with_cert.call("secure", "Greeter.Echo", "still", &CallOptions::default()).await.unwrap().body[..],
        b"still"
    );
    server.stop().await.unwrap();
}

/// `MICRO_TLS_CLIENT_CA` turns TLS on and makes the server require client certificates;
/// `MICRO_TLS_CERT`/`MICRO_TLS_KEY` are then also the client's identity.
#[tokio::test]
async fn environment_sets_up_mutual_tls() {
    let dir = std::env::temp_dir().join(format!("micro-mtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = TestCa::new("env CA");
    let (cert, key) = ca.leaf(&["127.0.0.1"]);
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let vars = [
        ("MICRO_TLS_CLIENT_CA", write("client-ca.pem", &ca.pem())),
        ("MICRO_TLS_CA", write("ca.pem", &ca.pem())),
        ("MICRO_TLS_CERT", write("cert.pem", &cert)),
        ("MICRO_TLS_KEY", write("key.pem", &key)),
    ];
    let lookup = |skip: &'static str| {
        let vars = vars.clone();
        move |k: &str| vars.iter().find(|(n, _)| *n == k && *n != skip).map(|(_, v)| v.clone())
    };
    let cfg = Config::from_lookup(lookup("")).unwrap();
    assert!(cfg.tls_enabled());
    let (mut s, mut c) = (ServerOptions::new("secure"), ClientOptions::default());
    cfg.apply_tls(&mut s, &mut c).unwrap();
    let reg: Arc<dyn Registry> = Arc::new(Memory::new());
    let server = tls_greeter(reg.clone(), s.tls.clone().unwrap()).await;
    let good = client(reg.clone(), c.tls.clone());
    assert_eq!(&good.call("secure", "Greeter.Echo", "env", &CallOptions::default()).await.unwrap().body[..], b"env");

    // Only MICRO_TLS_CLIENT_CA set: TLS is on, the server self-signs and checks clients.
    let only = Config::from_lookup(|k: &str| (k == "MICRO_TLS_CLIENT_CA").then(|| vars[0].1.clone())).unwrap();
    assert!(only.tls_enabled() && only.server_tls().unwrap().is_some());

    // A client of the same environment without MICRO_TLS_CERT/KEY has no identity: refused.
    let no_id = Config::from_lookup(lookup("MICRO_TLS_CERT")).unwrap();
    let anonymous = client(reg.clone(), no_id.client_tls().unwrap());
    assert!(anonymous.call("secure", "Greeter.Echo", "x", &CallOptions::default()).await.is_err());
    let missing =
        Config::from_lookup(|k: &str| (k == "MICRO_TLS_CLIENT_CA").then(|| "/nonexistent/ca.pem".to_string())).unwrap();
    assert!(missing.server_tls().unwrap_err().detail.contains("MICRO_TLS_CLIENT_CA"));
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
