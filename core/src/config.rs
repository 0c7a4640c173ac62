//! Options from the environment, under go-micro's names.
//!
//! Every host language gets the same defaults from the same variables: `MICRO_REGISTRY`,
//! `MICRO_REGISTRY_ADDRESS`, `MICRO_SERVER_ADDRESS`, `MICRO_SERVER_ADVERTISE`,
//! `MICRO_SERVER_NAME`, `MICRO_SERVER_VERSION`, `MICRO_SERVER_ID`, `MICRO_SERVER_METADATA`
//! (`k=v,k=v`), `MICRO_REGISTER_TTL`, `MICRO_REGISTER_INTERVAL` (seconds, or Go durations
//! like `30s`), `MICRO_CLIENT_RETRIES`, `MICRO_CLIENT_REQUEST_TIMEOUT`,
//! `MICRO_CLIENT_DIAL_TIMEOUT` (go-micro's `client.DialTimeout`, 5 s; above zero),
//! `MICRO_CLIENT_POOL_SIZE`, `MICRO_CLIENT_POOL_TTL`, `MICRO_SELECTOR`, `MICRO_BROKER`,
//! `MICRO_BROKER_ADDRESS`, and `MICRO_MAX_MESSAGE_SIZE` (bytes). TLS for the transport:
//! `MICRO_TRANSPORT_SECURE=true` (go-micro's `transport.Secure`), `MICRO_TLS_CERT` and
//! `MICRO_TLS_KEY` (PEM files the server presents; a self-signed certificate without them),
//! `MICRO_TLS_CA` (PEM file the client trusts) or `MICRO_TLS_INSECURE=true` (the client
//! trusts any certificate — go-micro v6's name; development only). Mutual TLS:
//! `MICRO_TLS_CLIENT_CA` (PEM file of the CAs whose client certificates the server
//! requires), and a client presents `MICRO_TLS_CERT`/`MICRO_TLS_KEY` when both are set. What a peer may hold
//! (see [`crate::transport::Limits`] and [`ServerOptions`]; they bound the RPC server's
//! listener and the http broker's): `MICRO_SERVER_HEADER_TIMEOUT`,
//! `MICRO_SERVER_IDLE_TIMEOUT`, `MICRO_SERVER_BODY_TIMEOUT` (durations, above zero),
//! `MICRO_SERVER_BODY_MIN_RATE` (bytes per second), `MICRO_SERVER_MAX_CONNECTIONS`,
//! `MICRO_SERVER_MAX_STREAMS` and `MICRO_SERVER_MAX_CONN_STREAMS` (counts, above zero).
//! Observability: `MICRO_ACCESS_LOG=true` (a log line per request, call and message) and
//! `MICRO_METRICS_ADDRESS` (Prometheus metrics on `http://ADDRESS/metrics`), both applied
//! by [`crate::Service`] ([`crate::wrapper`]).
//! A value that does not parse is an error naming the variable, never silently ignored.

use crate::client::ClientOptions;
use crate::error::{Error, Result};
use crate::selector::Strategy;
use crate::server::ServerOptions;
use std::time::Duration;

/// Options read from the environment; `None` where the variable is unset.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// `MICRO_REGISTRY`: `mdns`, `memory`, `etcd`, `consul`, or a URL: `etcd://HOST:PORT[,HOST:PORT…]`, `consul://HOST:PORT`.
    pub registry: Option<String>,
    /// `MICRO_REGISTRY_ADDRESS`.
    pub registry_address: Option<String>,
    /// `MICRO_SERVER_NAME`.
    pub server_name: Option<String>,
    /// `MICRO_SERVER_VERSION`.
    pub server_version: Option<String>,
    /// `MICRO_SERVER_ID`.
    pub server_id: Option<String>,
    /// `MICRO_SERVER_ADDRESS`.
    pub server_address: Option<String>,
    /// `MICRO_SERVER_ADVERTISE`.
    pub server_advertise: Option<String>,
    /// `MICRO_SERVER_METADATA`.
    pub server_metadata: Vec<(String, String)>,
    /// `MICRO_REGISTER_TTL`.
    pub register_ttl: Option<Duration>,
    /// `MICRO_REGISTER_INTERVAL`.
    pub register_interval: Option<Duration>,
    /// `MICRO_CLIENT_RETRIES`.
    pub client_retries: Option<u32>,
    /// `MICRO_CLIENT_REQUEST_TIMEOUT`.
    pub client_request_timeout: Option<Duration>,
    /// `MICRO_CLIENT_DIAL_TIMEOUT`.
    pub client_dial_timeout: Option<Duration>,
    /// `MICRO_CLIENT_POOL_SIZE`.
    pub client_pool_size: Option<usize>,
    /// `MICRO_CLIENT_POOL_TTL`.
    pub client_pool_ttl: Option<Duration>,
    /// `MICRO_SELECTOR`.
    pub selector: Option<Strategy>,
    /// `MICRO_BROKER`.
    pub broker: Option<String>,
    /// `MICRO_BROKER_ADDRESS`.
    pub broker_address: Option<String>,
    /// `MICRO_MAX_MESSAGE_SIZE`.
    pub max_message_size: Option<usize>,
    /// `MICRO_TRANSPORT_SECURE` (also implied by any `MICRO_TLS_*` below).
    pub transport_secure: bool,
    /// `MICRO_TLS_CERT`: a PEM certificate chain file.
    pub tls_cert: Option<String>,
    /// `MICRO_TLS_KEY`: its PEM private key file.
    pub tls_key: Option<String>,
    /// `MICRO_TLS_CA`: a PEM file of certificates the client trusts.
    pub tls_ca: Option<String>,
    /// `MICRO_TLS_INSECURE`: the client accepts any server certificate.
    pub tls_insecure: bool,
    /// `MICRO_TLS_CLIENT_CA`: a PEM file of the CAs the server requires client
    /// certificates to be signed by (mutual TLS).
    pub tls_client_ca: Option<String>,
    /// `MICRO_SERVER_HEADER_TIMEOUT`: [`crate::transport::Limits::header_timeout`].
    pub server_header_timeout: Option<Duration>,
    /// `MICRO_SERVER_IDLE_TIMEOUT`: [`crate::transport::Limits::idle_timeout`].
    pub server_idle_timeout: Option<Duration>,
    /// `MICRO_SERVER_BODY_TIMEOUT`: [`crate::transport::Limits::body_timeout`].
    pub server_body_timeout: Option<Duration>,
    /// `MICRO_SERVER_BODY_MIN_RATE`: [`crate::transport::Limits::body_min_rate`].
    pub server_body_min_rate: Option<u64>,
    /// `MICRO_SERVER_MAX_CONNECTIONS`: [`crate::transport::Limits::max_connections`].
    pub server_max_connections: Option<usize>,
    /// `MICRO_SERVER_MAX_STREAMS`: [`ServerOptions::max_streams`].
    pub server_max_streams: Option<usize>,
    /// `MICRO_SERVER_MAX_CONN_STREAMS`: [`ServerOptions::max_conn_streams`].
    pub server_max_conn_streams: Option<usize>,
    /// `MICRO_ACCESS_LOG`: a [`crate::Service`] logs every request, call and message
    /// ([`crate::wrapper::logging`]).
    pub access_log: bool,
    /// `MICRO_METRICS_ADDRESS`: a [`crate::Service`] serves Prometheus metrics on
    /// `http://ADDRESS/metrics` ([`crate::wrapper::metrics`]).
    pub metrics_address: Option<String>,
    /// The OpenTelemetry variables (`OTEL_EXPORTER_OTLP_ENDPOINT` …): services and clients
    /// trace their requests and calls ([`crate::wrapper::trace`]).
    pub trace: Option<crate::wrapper::trace::TraceConfig>,
    /// `MICRO_RATE_LIMIT` (`N` or `N,BURST`): a [`crate::Service`] limits the requests each
    /// endpoint handles ([`crate::wrapper::limit`]).
    pub rate_limit: Option<crate::wrapper::limit::RateLimit>,
    /// `MICRO_CLIENT_BREAKER` (`FAILURES,COOLDOWN` or `true`): clients break the circuit to
    /// an endpoint that keeps failing ([`crate::wrapper::breaker`]).
    pub client_breaker: Option<crate::wrapper::breaker::Breaker>,
}

fn read_pem(var: &str, path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| bad(var, path, &format!("a readable PEM file ({e})")))
}

fn bad(var: &str, value: &str, want: &str) -> Error {
    Error::bad_request("go.micro.config", format!("{var}={value:?} is not valid: expected {want}"))
}

/// Reads `MICRO_CLIENT_BREAKER`: `FAILURES,COOLDOWN` (`5,30s`) or `true` (5 and 30 s);
/// `None` for anything else.
pub fn parse_breaker(text: &str) -> Option<crate::wrapper::breaker::Breaker> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("true") || text == "1" {
        return Some(Default::default());
    }
    let (failures, cooldown) = text.split_once(',')?;
    let failures: u32 = failures.trim().parse().ok().filter(|f| *f > 0)?;
    let cooldown = parse_duration(cooldown).filter(|d| !d.is_zero())?;
    Some(crate::wrapper::breaker::Breaker { failures, cooldown })
}

/// Parses a Go duration (`300ms`, `1.5s`, `2m`, `1h30m`) or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Some(Duration::from_secs_f64(total))
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads variables through `get` (for tests and embedders with their own settings).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let text = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let duration = |k: &str| -> Result<Option<Duration>> {
            text(k).map(|v| parse_duration(&v).ok_or_else(|| bad(k, &v, "a duration such as 30s or 1m"))).transpose()
        };
        let number = |k: &str| -> Result<Option<u64>> {
            text(k).map(|v| v.trim().parse::<u64>().map_err(|_| bad(k, &v, "a whole number"))).transpose()
        };
        let positive_duration = |k: &str| -> Result<Option<Duration>> {
            match duration(k)? {
                Some(d) if d.is_zero() => Err(bad(k, "0", "a duration above zero, such as 5s")),
                other => Ok(other),
            }
        };
        let positive = |k: &str| -> Result<Option<u64>> {
            match number(k)? {
                Some(0) => Err(bad(k, "0", "a whole number above zero")),
                other => Ok(other),
            }
        };
        let flag = |k: &str| -> Result<bool> {
            match text(k).map(|v| v.trim().to_ascii_lowercase()) {
                None => Ok(false),
                Some(v) if v == "true" || v == "1" => Ok(true),
                Some(v) if v == "false" || v == "0" => Ok(false),
                Some(v) => Err(bad(k, &v, "true or false")),
            }
        };
        let selector = text("MICRO_SELECTOR")
            .map(|v| Strategy::from_name(&v).ok_or_else(|| bad("MICRO_SELECTOR", &v, "random or roundrobin")))
            .transpose()?;
        let mut server_metadata = Vec::new();
        if let Some(md) = text("MICRO_SERVER_METADATA") {
            for pair in md.split(',').filter(|p| !p.trim().is_empty()) {
                let (k, v) = pair.split_once('=').ok_or_else(|| bad("MICRO_SERVER_METADATA", &md, "k=v,k=v"))?;
                server_metadata.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        Ok(Config {
            registry: text("MICRO_REGISTRY"),
            registry_address: text("MICRO_REGISTRY_ADDRESS"),
            server_name: text("MICRO_SERVER_NAME"),
            server_version: text("MICRO_SERVER_VERSION"),
            server_id: text("MICRO_SERVER_ID"),
            server_address: text("MICRO_SERVER_ADDRESS"),
            server_advertise: text("MICRO_SERVER_ADVERTISE"),
            server_metadata,
            register_ttl: duration("MICRO_REGISTER_TTL")?,
            register_interval: duration("MICRO_REGISTER_INTERVAL")?,
            client_retries: number("MICRO_CLIENT_RETRIES")?.map(|n| n.min(u64::from(u32::MAX)) as u32),
            client_request_timeout: duration("MICRO_CLIENT_REQUEST_TIMEOUT")?,
            client_dial_timeout: positive_duration("MICRO_CLIENT_DIAL_TIMEOUT")?,
            client_pool_size: number("MICRO_CLIENT_POOL_SIZE")?.map(|n| n as usize),
            client_pool_ttl: duration("MICRO_CLIENT_POOL_TTL")?,
            selector,
            broker: text("MICRO_BROKER"),
            broker_address: text("MICRO_BROKER_ADDRESS"),
            max_message_size: number("MICRO_MAX_MESSAGE_SIZE")?.map(|n| n as usize),
            transport_secure: flag("MICRO_TRANSPORT_SECURE")?,
            tls_cert: text("MICRO_TLS_CERT"),
            tls_key: text("MICRO_TLS_KEY"),
            tls_ca: text("MICRO_TLS_CA"),
            tls_insecure: flag("MICRO_TLS_INSECURE")?,
            tls_client_ca: text("MICRO_TLS_CLIENT_CA"),
            server_header_timeout: positive_duration("MICRO_SERVER_HEADER_TIMEOUT")?,
            server_idle_timeout: positive_duration("MICRO_SERVER_IDLE_TIMEOUT")?,
            server_body_timeout: positive_duration("MICRO_SERVER_BODY_TIMEOUT")?,
            server_body_min_rate: positive("MICRO_SERVER_BODY_MIN_RATE")?,
            server_max_connections: positive("MICRO_SERVER_MAX_CONNECTIONS")?.map(|n| n as usize),
            server_max_streams: positive("MICRO_SERVER_MAX_STREAMS")?.map(|n| n as usize),
            server_max_conn_streams: positive("MICRO_SERVER_MAX_CONN_STREAMS")?.map(|n| n as usize),
            access_log: flag("MICRO_ACCESS_LOG")?,
            metrics_address: text("MICRO_METRICS_ADDRESS"),
            trace: crate::wrapper::trace::TraceConfig::from_lookup(text)?,
            rate_limit: text("MICRO_RATE_LIMIT")
                .map(|v| {
                    crate::wrapper::limit::RateLimit::parse(&v)
                        .ok_or_else(|| bad("MICRO_RATE_LIMIT", &v, "requests a second, N or N,BURST"))
                })
                .transpose()?,
            client_breaker: text("MICRO_CLIENT_BREAKER")
                .map(|v| {
                    parse_breaker(&v)
                        .ok_or_else(|| bad("MICRO_CLIENT_BREAKER", &v, "FAILURES,COOLDOWN such as 5,30s, or true"))
                })
                .transpose()?,
        })
    }

    /// The registry URL these settings name (`mdns` when unset).
    pub fn registry_url(&self) -> String {
        match (&self.registry, &self.registry_address) {
            (Some(r), Some(a)) if !r.contains("://") => format!("{r}://{a}"),
            (Some(r), _) => r.clone(),
            (None, _) => "mdns".into(),
        }
    }

    /// Overlays the server settings onto `opts`.
    pub fn apply_server(&self, opts: &mut ServerOptions) {
        if let Some(v) = &self.server_name {
            opts.name = v.clone();
        }
        if let Some(v) = &self.server_version {
            opts.version = v.clone();
        }
        if let Some(v) = &self.server_id {
            opts.id = Some(v.clone());
        }
        if let Some(v) = &self.server_address {
            opts.address = v.clone();
        }
        if let Some(v) = &self.server_advertise {
            opts.advertise = Some(v.clone());
        }
        for (k, v) in &self.server_metadata {
            opts.metadata.insert(k.clone(), v.clone());
        }
        if let Some(v) = self.register_ttl {
            opts.register_ttl = v;
        }
        if let Some(v) = self.register_interval {
            opts.register_interval = v;
        }
        self.apply_server_limits(opts);
    }

    /// Overlays only what a peer may hold of the server (the listener's limits of
    /// [`Config::apply_limits`] and the stream caps): what a server built from explicit
    /// options still takes from the environment, as the C ABI's `micro_server_new` does.
    pub fn apply_server_limits(&self, opts: &mut ServerOptions) {
        self.apply_limits(&mut opts.limits);
        if let Some(v) = self.server_max_streams {
            opts.max_streams = v;
        }
        if let Some(v) = self.server_max_conn_streams {
            opts.max_conn_streams = v;
        }
    }

    /// Overlays the message size and the listener limits onto `limits` (the RPC server's,
    /// and the client's, which its http broker listens under).
    pub fn apply_limits(&self, limits: &mut crate::transport::Limits) {
        if let Some(v) = self.max_message_size {
            limits.max_body = v;
        }
        if let Some(v) = self.server_header_timeout {
            limits.header_timeout = v;
        }
        if let Some(v) = self.server_idle_timeout {
            limits.idle_timeout = v;
        }
        if let Some(v) = self.server_body_timeout {
            limits.body_timeout = v;
        }
        if let Some(v) = self.server_body_min_rate {
            limits.body_min_rate = v;
        }
        if let Some(v) = self.server_max_connections {
            limits.max_connections = v;
        }
    }

    /// Overlays the client settings onto `opts`.
    pub fn apply_client(&self, opts: &mut ClientOptions) {
        if let Some(v) = self.client_retries {
            opts.retries = v;
        }
        if let Some(v) = self.client_request_timeout {
            opts.request_timeout = v;
        }
        if let Some(v) = self.client_dial_timeout {
            opts.dial_timeout = v;
        }
        if let Some(v) = self.client_pool_size {
            opts.pool_size = v;
        }
        if let Some(v) = self.client_pool_ttl {
            opts.pool_ttl = v;
        }
        if let Some(v) = self.selector {
            opts.strategy = v;
        }
        self.apply_limits(&mut opts.limits);
    }

    /// Whether the TLS variables turn TLS on.
    pub fn tls_enabled(&self) -> bool {
        self.transport_secure
            || self.tls_cert.is_some()
            || self.tls_key.is_some()
            || self.tls_ca.is_some()
            || self.tls_insecure
            || self.tls_client_ca.is_some()
    }

    /// Sets TLS on both sides when the variables ask for it ([`Config::server_tls`],
    /// [`Config::client_tls`]).
    pub fn apply_tls(&self, server: &mut ServerOptions, client: &mut ClientOptions) -> Result<()> {
        server.tls = self.server_tls()?;
        client.tls = self.client_tls()?;
        Ok(())
    }

    /// The server side of the TLS variables: `MICRO_TLS_CERT`/`MICRO_TLS_KEY`, or a
    /// self-signed certificate for this host's addresses; with `MICRO_TLS_CLIENT_CA`,
    /// clients must present a certificate signed by it; `None` when TLS is off.
    pub fn server_tls(&self) -> Result<Option<std::sync::Arc<crate::transport::tls::ServerConfig>>> {
        use crate::transport::tls;
        if !self.tls_enabled() {
            return Ok(None);
        }
        let client_ca = self.tls_client_ca.as_deref().map(|p| read_pem("MICRO_TLS_CLIENT_CA", p)).transpose()?;
        let client_ca = client_ca.as_deref();
        Ok(Some(match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => tls::server_config_checking_clients(
                &read_pem("MICRO_TLS_CERT", c)?,
                &read_pem("MICRO_TLS_KEY", k)?,
                client_ca,
            )?,
            (None, None) => tls::self_signed_checking_clients(&tls::local_names(), client_ca)?.0,
            _ => {
                return Err(Error::bad_request(
                    "go.micro.config",
                    "MICRO_TLS_CERT and MICRO_TLS_KEY go together: set both, or neither for a self-signed certificate",
                ))
            }
        }))
    }

    /// The client side of the TLS variables: trust `MICRO_TLS_CA`, or anything with
    /// `MICRO_TLS_INSECURE`, presenting `MICRO_TLS_CERT`/`MICRO_TLS_KEY` when both are set
    /// (for servers that require client certificates); `None` when TLS is off. TLS on with
    /// neither CA nor insecure is an error that says what to set.
    pub fn client_tls(&self) -> Result<Option<std::sync::Arc<crate::transport::tls::ClientConfig>>> {
        use crate::transport::tls;
        if !self.tls_enabled() {
            return Ok(None);
        }
        let identity = match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Some((read_pem("MICRO_TLS_CERT", c)?, read_pem("MICRO_TLS_KEY", k)?)),
            _ => None,
        };
        let identity = identity.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice()));
        Ok(Some(match (&self.tls_ca, self.tls_insecure) {
            (Some(ca), _) => match identity {
                Some((c, k)) => tls::client_config_with_identity(&read_pem("MICRO_TLS_CA", ca)?, c, k)?,
                None => tls::client_config(&read_pem("MICRO_TLS_CA", ca)?)?,
            },
            (None, true) => tls::insecure_client_config_with_identity(identity)?,
            (None, false) => {
                return Err(Error::bad_request(
                    "go.micro.config",
                    "TLS is on but the client trusts nothing: set MICRO_TLS_CA to the servers' CA (PEM), \
                     or MICRO_TLS_INSECURE=true to skip verification (development only)",
                ))
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::wrapper::breaker::Breaker;

    #[test]
    fn breaker_settings_parse() {
        assert_eq!(parse_breaker("true"), Some(Breaker::default()));
        assert_eq!(parse_breaker("3, 500ms"), Some(Breaker { failures: 3, cooldown: Duration::from_millis(500) }));
        for bad in ["", "false", "0,1s", "3", "3,0s", "x,1s", "3,soon"] {
            assert_eq!(parse_breaker(bad), None, "{bad:?}");
        }
    }

    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("abc"), None);
        assert_eq!(parse_duration("5x"), None);
    }

    #[test]
    fn reads_go_micro_names_and_rejects_bad_values() {
        let env = |k: &str| match k {
            "MICRO_REGISTRY" => Some("memory".to_string()),
            "MICRO_REGISTER_TTL" => Some("60".to_string()),
            "MICRO_CLIENT_RETRIES" => Some("2".to_string()),
            "MICRO_CLIENT_DIAL_TIMEOUT" => Some("90s".to_string()),
            "MICRO_SERVER_METADATA" => Some("zone=a, team=b".to_string()),
            _ => None,
        };
        let c = Config::from_lookup(env).unwrap();
        assert_eq!(c.registry_url(), "memory");
        assert_eq!(c.register_ttl, Some(Duration::from_secs(60)));
        let mut s = ServerOptions::new("x");
        c.apply_server(&mut s);
        assert_eq!(s.metadata.get("team").map(String::as_str), Some("b"));
        let mut o = ClientOptions::default();
        c.apply_client(&mut o);
        assert_eq!(o.retries, 2);
        assert_eq!(o.dial_timeout, Duration::from_secs(90));
        let err = Config::from_lookup(|k| (k == "MICRO_CLIENT_RETRIES").then(|| "many".to_string())).unwrap_err();
        assert!(err.detail.contains("MICRO_CLIENT_RETRIES"), "{err}");
    }

    #[test]
    fn reads_listener_limits() {
        let env = |k: &str| match k {
            "MICRO_SERVER_HEADER_TIMEOUT" => Some("2s".to_string()),
            "MICRO_SERVER_IDLE_TIMEOUT" => Some("30s".to_string()),
            "MICRO_SERVER_BODY_TIMEOUT" => Some("500ms".to_string()),
            "MICRO_SERVER_BODY_MIN_RATE" => Some("1024".to_string()),
            "MICRO_SERVER_MAX_CONNECTIONS" => Some("100".to_string()),
            "MICRO_SERVER_MAX_STREAMS" => Some("10".to_string()),
            "MICRO_SERVER_MAX_CONN_STREAMS" => Some("3".to_string()),
            "MICRO_MAX_MESSAGE_SIZE" => Some("1000".to_string()),
            _ => None,
        };
        let c = Config::from_lookup(env).unwrap();
        let mut s = ServerOptions::new("x");
        c.apply_server(&mut s);
        let l = s.limits;
        assert_eq!(l.header_timeout, Duration::from_secs(2));
        assert_eq!(l.idle_timeout, Duration::from_secs(30));
        assert_eq!(l.body_timeout, Duration::from_millis(500));
        assert_eq!((l.body_min_rate, l.max_connections, l.max_body), (1024, 100, 1000));
        assert_eq!((s.max_streams, s.max_conn_streams), (10, 3));
        let mut o = ClientOptions::default();
        c.apply_client(&mut o);
        assert_eq!(o.limits.idle_timeout, Duration::from_secs(30));
        for var in ["MICRO_SERVER_HEADER_TIMEOUT", "MICRO_SERVER_MAX_CONNECTIONS"] {
            let err = Config::from_lookup(|k| (k == var).then(|| "0".to_string())).unwrap_err();
            assert!(err.detail.contains(var) && err.detail.contains("above zero"), "{err}");
        }
    }
}
