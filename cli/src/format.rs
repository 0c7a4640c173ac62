//! The toolkit's output formats (micro v1.18 `micro get`, `health`, `stats`, `call`), and
//! small helpers: Go durations, JSON with tab indentation, JSON errors that point at the spot.

use micro::registry::{Metadata, Service, Value};
use serde::Serialize;

/// `k=v,k=v`, sorted by key (the toolkit printed Go's random map order).
pub fn metadata(md: &Metadata) -> String {
    md.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// go-micro's `snake_case` of a field name (`MessageId` → `message_id`).
pub fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            prev_lower = false;
        } else {
            out.push(c);
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

/// A value tree: `{}` when it has no fields, else one field per line, nested structs indented.
pub fn value_tree(v: Option<&Value>) -> String {
    match v {
        Some(v) if !v.values.is_empty() => {
            let mut out = String::from("{\n");
            fields(&v.values, 1, &mut out);
            out.push('}');
            out
        }
        _ => "{}".into(),
    }
}

fn fields(values: &[Value], depth: usize, out: &mut String) {
    let tabs = "\t".repeat(depth);
    for f in values {
        if f.values.is_empty() {
            out.push_str(&format!("{tabs}{} {}\n", snake(&f.name), f.kind));
        } else {
            out.push_str(&format!("{tabs}{} {} {{\n", snake(&f.name), f.kind));
            fields(&f.values, depth + 1, out);
            out.push_str(&format!("{tabs}}}\n"));
        }
    }
}

/// `micro get service NAME` (toolkit §3.2), without the printer's final newline.
pub fn service(name: &str, services: &[Service]) -> String {
    let mut out = vec![format!("service  {name}")];
    for s in services {
        if !s.version.is_empty() {
            out.push(format!("\nversion {}", s.version));
        }
        out.push("\nID\tAddress\tMetadata".into());
        for n in &s.nodes {
            out.push(format!("{}\t{}\t{}", n.id, n.address, metadata(&n.metadata)));
        }
    }
    if let Some(first) = services.first() {
        for e in &first.endpoints {
            let mut text = format!("\nEndpoint: {}\n", e.name);
            if !e.metadata.is_empty() {
                text.push_str(&format!("\nMetadata: {}\n", metadata(&e.metadata)));
            }
            text.push_str(&format!(
                "\nRequest: {}\n\nResponse: {}\n",
                value_tree(e.request.as_ref()),
                value_tree(e.response.as_ref())
            ));
            out.push(text);
        }
    }
    out.join("\n")
}

/// One node's row in `health` / `stats`.
#[derive(Clone, Debug, Serialize)]
pub struct NodeRow {
    /// The version the node serves.
    pub version: String,
    /// Node id.
    pub id: String,
    /// `host:port`.
    pub address: String,
    /// `ok`, or what went wrong.
    pub status: String,
    /// Whether the node answered at all.
    pub reachable: bool,
    /// The parsed `Debug.Stats` answer, for `stats`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
}

/// go-micro's `Debug.Stats` answer.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    /// Start time, Unix seconds.
    pub started: u64,
    /// Uptime in seconds.
    pub uptime: u64,
    /// Memory in bytes.
    pub memory: u64,
    /// Threads (goroutines).
    pub threads: u64,
    /// Total GC pause in nanoseconds.
    pub gc: u64,
    /// Requests the node counted (0 where it does not count them).
    pub requests: u64,
    /// Of those, the failed ones.
    pub errors: u64,
}

impl Stats {
    /// Reads the JSON answer; numbers may come as JSON numbers or (protobuf JSON) strings.
    pub fn from_json(v: &serde_json::Value) -> Option<Stats> {
        let num = |k: &str| match v.get(k) {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            None | Some(serde_json::Value::Null) => Some(0),
            _ => None,
        };
        v.as_object()?;
        Some(Stats {
            started: num("started")?,
            uptime: num("uptime")?,
            memory: num("memory")?,
            threads: num("threads")?,
            gc: num("gc")?,
            requests: num("requests")?,
            errors: num("errors")?,
        })
    }
}

fn versions(rows: &[NodeRow]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for r in rows {
        if !out.contains(&r.version.as_str()) {
            out.push(&r.version);
        }
    }
    out
}

/// `micro health SERVICE` (toolkit §3.3).
pub fn health(name: &str, rows: &[NodeRow]) -> String {
    let mut out = vec![format!("service  {name}")];
    for v in versions(rows) {
        out.push(format!("\nversion {v}"));
        out.push("\nnode\t\taddress:port\t\tstatus".into());
        for r in rows.iter().filter(|r| r.version == v) {
            out.push(format!("{}\t\t{}\t\t{}", r.id, r.address, r.status));
        }
    }
    out.join("\n")
}

/// `micro stats SERVICE` (toolkit §3.4); a node without stats gets empty fields, threads 0.
pub fn stats(name: &str, rows: &[NodeRow]) -> String {
    let mut out = vec![format!("service  {name}")];
    for v in versions(rows) {
        out.push(format!("\nversion {v}"));
        out.push("\nnode\t\taddress:port\t\tstarted\tuptime\tmemory\tthreads\tgc".into());
        for r in rows.iter().filter(|r| r.version == v) {
            let cols = match &r.stats {
                Some(s) => format!(
                    "{}\t{}\t{:.2}mb\t{}\t{}",
                    clock(s.started),
                    go_duration(u128::from(s.uptime) * 1_000_000_000),
                    s.memory as f64 / 1_048_576.0,
                    s.threads,
                    go_duration(u128::from(s.gc))
                ),
                None => "\t\t\t0\t".into(),
            };
            out.push(format!("{}\t\t{}\t\t{cols}", r.id, r.address));
        }
    }
    out.join("\n")
}

/// Go's `time.Duration.String` of `ns` nanoseconds (`1m5s`, `1.2ms`, `0s`).
pub fn go_duration(ns: u128) -> String {
    fn frac(v: u128, unit: u128, width: usize) -> String {
        let (int, rem) = (v / unit, v % unit);
        if rem == 0 {
            int.to_string()
        } else {
            let f = format!("{rem:0width$}");
            format!("{int}.{}", f.trim_end_matches('0'))
        }
    }
    match ns {
        0 => "0s".into(),
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => format!("{}µs", frac(n, 1_000, 3)),
        n if n < 1_000_000_000 => format!("{}ms", frac(n, 1_000_000, 6)),
        n => {
            let h = n / 3_600_000_000_000;
            let m = (n / 60_000_000_000) % 60;
            let s = n % 60_000_000_000;
            let mut out = String::new();
            if h > 0 {
                out.push_str(&format!("{h}h"));
            }
            if h > 0 || m > 0 {
                out.push_str(&format!("{m}m"));
            }
            out.push_str(&format!("{}s", frac(s, 1_000_000_000, 9)));
            out
        }
    }
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// The civil date (year, month 1-12, day) of a day counted from 1970-01-01.
fn civil(days: i64) -> (i64, usize, i64) {
    // Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month.clamp(1, 12) as usize, day)
}

/// Unix seconds as Go's `Jan 2 15:04:05` layout, in UTC.
pub fn clock(unix: u64) -> String {
    let (_, month, day) = civil((unix / 86_400) as i64);
    let secs = unix % 86_400;
    format!("{} {} {:02}:{:02}:{:02}", MONTHS[month - 1], day, secs / 3600, (secs / 60) % 60, secs % 60)
}

/// Unix seconds as Go's `time.RFC1123` layout in UTC: `Sun, 08 Dec 2019 16:13:50 UTC`.
pub fn rfc1123(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // 1970-01-01 was a Thursday
    let days = unix / 86_400;
    let (year, month, day) = civil(days as i64);
    let secs = unix % 86_400;
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} UTC",
        DAYS[(days % 7) as usize],
        MONTHS[month - 1],
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// JSON indented with tabs, as the toolkit prints call replies.
pub fn pretty<T: Serialize>(v: &T) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    if v.serialize(&mut ser).is_err() {
        return String::new();
    }
    String::from_utf8(buf).unwrap_or_default()
}

/// Parses `text` as JSON; the error names `what`, the line and column, and points at the spot.
pub fn parse_json(what: &str, text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| {
        let line = text.lines().nth(e.line().saturating_sub(1)).unwrap_or("");
        let caret = " ".repeat(line.chars().take(e.column().saturating_sub(1)).count());
        format!("{what} is not valid JSON: {e}\n  {line}\n  {caret}^")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use micro::registry::{Endpoint, Node};

    #[test]
    fn get_service_matches_the_toolkit() {
        let mut md = Metadata::new();
        md.insert("protocol".into(), "mucp".into());
        md.insert("broker".into(), "http".into());
        let mut stream_md = Metadata::new();
        stream_md.insert("stream".into(), "true".into());
        let svc = Service {
            name: "go.micro.srv.greeter".into(),
            version: "latest".into(),
            endpoints: vec![
                Endpoint {
                    name: "Say.Hello".into(),
                    request: Some(Value {
                        name: "Request".into(),
                        kind: "Request".into(),
                        values: vec![Value::leaf("Name", "string")],
                    }),
                    response: Some(Value {
                        name: "Response".into(),
                        kind: "Response".into(),
                        values: vec![Value::leaf("msg", "string")],
                    }),
                    metadata: Metadata::new(),
                },
                Endpoint {
                    name: "Say.Stream".into(),
                    request: Some(Value {
                        name: "R".into(),
                        kind: "R".into(),
                        values: vec![Value::leaf("count", "int64")],
                    }),
                    response: None,
                    metadata: stream_md,
                },
            ],
            nodes: vec![Node { id: "g-1".into(), address: "10.0.0.5:54321".into(), metadata: md }],
            ..Default::default()
        };
        let want = "service  go.micro.srv.greeter\n\nversion latest\n\nID\tAddress\tMetadata\ng-1\t10.0.0.5:54321\tbroker=http,protocol=mucp\n\nEndpoint: Say.Hello\n\nRequest: {\n\tname string\n}\n\nResponse: {\n\tmsg string\n}\n\n\nEndpoint: Say.Stream\n\nMetadata: stream=true\n\nRequest: {\n\tcount int64\n}\n\nResponse: {}\n";
        assert_eq!(service("go.micro.srv.greeter", &[svc]), want);
    }

    #[test]
    fn nested_values_and_snake_case() {
        let v = Value {
            name: "Req".into(),
            kind: "Req".into(),
            values: vec![Value {
                name: "UserInfo".into(),
                kind: "User".into(),
                values: vec![Value::leaf("MessageId", "string")],
            }],
        };
        assert_eq!(value_tree(Some(&v)), "{\n\tuser_info User {\n\t\tmessage_id string\n\t}\n}");
    }

    #[test]
    fn go_durations_and_clock() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(65_000_000_000), "1m5s");
        assert_eq!(go_duration(1_200_000), "1.2ms");
        assert_eq!(go_duration(3_723_500_000_000), "1h2m3.5s");
        assert_eq!(go_duration(999), "999ns");
        assert_eq!(clock(1_575_821_630), "Dec 8 16:13:50");
        assert_eq!(rfc1123(1_575_821_630), "Sun, 08 Dec 2019 16:13:50 UTC");
        assert_eq!(rfc1123(0), "Thu, 01 Jan 1970 00:00:00 UTC");
        assert_eq!(rfc1123(951_782_400 + 86_399), "Tue, 29 Feb 2000 23:59:59 UTC");
    }

    #[test]
    fn stats_rows() {
        let rows = vec![
            NodeRow {
                version: "latest".into(),
                id: "a".into(),
                address: "1.2.3.4:5".into(),
                status: "ok".into(),
                reachable: true,
                stats: Stats::from_json(
                    &serde_json::json!({"started":1575821630,"uptime":"65","memory":2422210,"threads":12,"gc":1200000}),
                ),
            },
            NodeRow {
                version: "latest".into(),
                id: "b".into(),
                address: "1.2.3.4:6".into(),
                status: "x".into(),
                reachable: false,
                stats: None,
            },
        ];
        assert_eq!(
            stats("s", &rows),
            "service  s\n\nversion latest\n\nnode\t\taddress:port\t\tstarted\tuptime\tmemory\tthreads\tgc\na\t\t1.2.3.4:5\t\tDec 8 16:13:50\t1m5s\t2.31mb\t12\t1.2ms\nb\t\t1.2.3.4:6\t\t\t\t\t0\t"
        );
    }

    #[test]
    fn json_errors_point_at_the_spot() {
        let e = parse_json("the request", "{\"name\" \"x\"}").unwrap_err();
        assert!(e.contains("line 1 column 9"), "{e}");
        assert!(e.ends_with("\n  {\"name\" \"x\"}\n          ^"), "{e:?}");
        assert_eq!(pretty(&serde_json::json!({"msg":"Hello"})), "{\n\t\"msg\": \"Hello\"\n}");
    }
}
