//! Path → service and method: the classic toolkit's rules (micro v1.18, spec §2.1–§2.4 and
//! §2.7), as pure functions, so every handler and every test resolves a path the same way.
//!
//! - [`api_route`]: the rpc / api / meta rules — the three-segment rule, versioned paths
//!   (`/v1/...` folded into the service name), camel-cased methods (`say-hello` → `SayHello`).
//! - [`proxy_route`]: the http / proxy / web rules — the first segment (or `v1` and the
//!   second) names the service; the path is forwarded untouched.
//! - [`event_route`]: the event handler's topic and event name.
//! - [`with_namespace`]: how a namespace joins a name (`.`, `-` and DNS-style names).
//!
//! Where the classic rules give a name no service has, the gateway tries the name without
//! the namespace too ([`candidates`]), so a go-micro v5 service registered as `greeter` is
//! reachable at `/greeter/say/hello` under the default namespace.

/// How a request names its service (`--resolver`, spec A6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResolverKind {
    /// The classic rules: [`api_route`] for the rpc/api/meta handlers, [`proxy_route`] for
    /// http/web (the default).
    #[default]
    Micro,
    /// The `Host` header (port included) is the service name.
    Host,
    /// The first path segment is the service name.
    Path,
    /// gRPC's `/pkg.Service/Method`: the package (`pkg`) is the service name.
    Grpc,
}

impl std::str::FromStr for ResolverKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "" | "micro" => ResolverKind::Micro,
            "host" => ResolverKind::Host,
            "path" => ResolverKind::Path,
            "grpc" => ResolverKind::Grpc,
            other => return Err(format!("unknown resolver {other:?}: use micro, host, path or grpc")),
        })
    }
}

/// The route of a request under a resolver other than [`ResolverKind::Micro`]: the service
/// from the host, the first segment or the gRPC package, and the HTTP verb as the method (so
/// these make sense with the http and web handlers, as in the classic toolkit).
pub fn named_route(kind: ResolverKind, namespace: &str, host: Option<&str>, path: &str, verb: &str) -> Option<Route> {
    let short = match kind {
        ResolverKind::Micro => return None,
        ResolverKind::Host => host?.trim().to_string(),
        ResolverKind::Path => clean_segments(path).first()?.to_string(),
        ResolverKind::Grpc => clean_segments(path).first()?.split('.').next()?.to_string(),
    };
    if short.is_empty() {
        return None;
    }
    Some(Route { service: with_namespace(namespace, &short), short, method: verb.to_string() })
}

/// A resolved route: the service to call and the method on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The service name, namespace joined.
    pub service: String,
    /// The short name the path gave (without the namespace), tried when the full name is
    /// not registered.
    pub short: String,
    /// `Handler.Method` (rpc/api) or the HTTP verb (proxy rules).
    pub method: String,
}

/// Joins `namespace` and `name` as go-micro's router does: empty namespace → the name;
/// namespace ending in `-` → DNS style (every `.` of the name becomes `-`); ending in `.` →
/// concatenation; otherwise `namespace.name`.
pub fn with_namespace(namespace: &str, name: &str) -> String {
    let (ns, name) = (namespace.trim(), name.trim());
    if ns.is_empty() {
        name.to_string()
    } else if ns.ends_with('-') {
        format!("{ns}{name}").replace('.', "-")
    } else if ns.ends_with('.') {
        format!("{ns}{name}")
    } else {
        format!("{ns}.{name}")
    }
}

/// The names to look up for `route`, in order: the namespaced one, then the short one
/// when it differs.
pub fn candidates(route: &Route) -> Vec<String> {
    let mut c = vec![route.service.clone()];
    if !route.short.is_empty() && route.short != route.service {
        c.push(route.short.clone());
    }
    c
}

/// Path segments after cleaning: no empty segments, `.` dropped, `..` pops.
pub fn clean_segments(path: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out
}

/// Whether `path` is already clean (no `//`, `.` or `..` segments; a trailing `/` is fine).
pub fn is_clean(path: &str) -> bool {
    let inner = path.strip_prefix('/').unwrap_or(path);
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    inner.is_empty() || inner.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

/// The cleaned form of `path`, with a leading `/`.
pub fn cleaned(path: &str) -> String {
    format!("/{}", clean_segments(path).join("/"))
}

fn is_version(seg: &str) -> bool {
    seg.len() > 1 && seg.starts_with('v') && seg[1..].bytes().all(|b| b.is_ascii_digit())
}

/// go-micro's camel-casing of one path segment: split on `-`, upper-case the first letter
/// of each piece and any letter after a non-alphanumeric, non-`_` ASCII character; nothing
/// is lower-cased (`say-hello` → `SayHello`, `say_hello` → `Say_hello`, `bar.baz` → `Bar.Baz`).
pub fn camel(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for piece in segment.split('-') {
        let mut upper_next = true;
        for c in piece.chars() {
            if upper_next {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
            upper_next = c.is_ascii() && !c.is_ascii_alphanumeric() && c != '_';
        }
    }
    out
}

fn method_of(segments: &[&str]) -> String {
    segments.iter().map(|s| camel(s)).collect::<Vec<_>>().join(".")
}

/// The rpc/api/meta rules (§2.1) for `path` under `namespace`; `None` for `/`.
pub fn api_route(namespace: &str, path: &str) -> Option<Route> {
    let p = clean_segments(path);
    let (short, method) = match p.len() {
        0 => return None,
        1 | 2 => (p[0].to_string(), method_of(&p)),
        3 if is_version(p[0]) => (format!("{}.{}", p[0], p[1]), method_of(&p[1..])),
        n => (p[..n - 2].join("."), method_of(&p[n - 2..])),
    };
    Some(Route { service: with_namespace(namespace, &short), short, method })
}

/// The http/proxy/web rules (§2.2) for `path` under `namespace`; `None` when the path names
/// no service. The method is the HTTP verb, the path is forwarded as it is.
pub fn proxy_route(namespace: &str, path: &str, verb: &str) -> Option<Route> {
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() < 2 {
        return None;
    }
    let (short, alias) = if parts.len() > 2 && is_version(parts[1]) {
        (format!("{}.{}", parts[1], parts[2]), parts[2])
    } else {
        (parts[1].to_string(), parts[1])
    };
    let valid =
        !alias.is_empty() && alias.split('-').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if !valid {
        return None;
    }
    Some(Route { service: with_namespace(namespace, &short), short, method: verb.to_string() })
}

/// The event handler's topic and event name (§2.7) for `path` under `namespace`.
pub fn event_route(namespace: &str, path: &str) -> (String, String) {
    let p = clean_segments(path);
    match p.len() {
        0 => (namespace.to_string(), "event".to_string()),
        n if n >= 2 && is_version(p[0]) => (format!("{namespace}.{}.{}", p[0], p[1]), p[1..].join(".")),
        _ => (format!("{namespace}.{}", p[0]), p[1..].join(".")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worked_table_of_the_classic_toolkit() {
        let ns = "go.micro.api";
        for (path, service, method) in [
            ("/foo", "go.micro.api.foo", "Foo"),
            ("/foo/", "go.micro.api.foo", "Foo"),
            ("/foo/bar", "go.micro.api.foo", "Foo.Bar"),
            ("/foo/bar/", "go.micro.api.foo", "Foo.Bar"),
            ("/foo/foo/bar", "go.micro.api.foo", "Foo.Bar"),
            ("/foo/bar/baz", "go.micro.api.foo", "Bar.Baz"),
            ("/foo/bar/baz-xyz", "go.micro.api.foo", "Bar.BazXyz"),
            ("/foo/bar/baz/cat", "go.micro.api.foo.bar", "Baz.Cat"),
            ("/foo/bar/baz/cat/car", "go.micro.api.foo.bar.baz", "Cat.Car"),
            ("/foo/fooBar/bazCat", "go.micro.api.foo", "FooBar.BazCat"),
            ("/greeter/say/hello", "go.micro.api.greeter", "Say.Hello"),
            ("/foo-bar/baz", "go.micro.api.foo-bar", "FooBar.Baz"),
            ("/v1/foo", "go.micro.api.v1", "V1.Foo"),
            ("/v1/foo/bar", "go.micro.api.v1.foo", "Foo.Bar"),
            ("/v1/foo/bar/baz", "go.micro.api.v1.foo", "Bar.Baz"),
            ("/v1/foo/bar/baz/cat", "go.micro.api.v1.foo.bar", "Baz.Cat"),
            ("/V1/foo/bar", "go.micro.api.V1", "Foo.Bar"),
            ("/v1.0/foo/bar", "go.micro.api.v1.0", "Foo.Bar"),
        ] {
            let r = api_route(ns, path).expect(path);
            assert_eq!((r.service.as_str(), r.method.as_str()), (service, method), "{path}");
        }
        assert_eq!(api_route(ns, "/"), None);
    }

    #[test]
    fn camel_cases_as_go_micro() {
        for (seg, want) in [
            ("say-hello", "SayHello"),
            ("say_hello", "Say_hello"),
            ("fooBar", "FooBar"),
            ("BAR", "BAR"),
            ("bar.baz", "Bar.Baz"),
            ("get-user-by-person-id", "GetUserByPersonId"),
        ] {
            assert_eq!(camel(seg), want, "{seg}");
        }
    }

    #[test]
    fn namespaces_join_three_ways() {
        assert_eq!(with_namespace("go.micro.api", "foo"), "go.micro.api.foo");
        assert_eq!(with_namespace("foo-", "v1.bar"), "foo-v1-bar");
        assert_eq!(with_namespace("go.micro.api.", "foo"), "go.micro.api.foo");
        assert_eq!(with_namespace(" ", "foo"), "foo");
    }

    #[test]
    fn proxy_routes_take_the_first_segment_or_a_version() {
        let r = |p: &str| proxy_route("go.micro.api", p, "GET").map(|r| r.service);
        assert_eq!(r("/foo/bar/bar").as_deref(), Some("go.micro.api.foo"));
        assert_eq!(r("/f-b").as_deref(), Some("go.micro.api.f-b"));
        assert_eq!(r("/v1/foo/bar/baz/cat").as_deref(), Some("go.micro.api.v1.foo"));
        assert_eq!(r("/v1/"), None);
        assert_eq!(r("/a_b/x"), None);
    }

    #[test]
    fn event_topics_and_names() {
        let ns = "go.micro.evt";
        for (path, topic, name) in [
            ("/", "go.micro.evt", "event"),
            ("/user", "go.micro.evt.user", ""),
            ("/user/login", "go.micro.evt.user", "login"),
            ("/user/login/john", "go.micro.evt.user", "login.john"),
            ("/v1/user/login", "go.micro.evt.v1.user", "user.login"),
        ] {
            assert_eq!(event_route(ns, path), (topic.to_string(), name.to_string()), "{path}");
        }
    }

    #[test]
    fn unclean_paths_are_found_and_cleaned() {
        assert!(is_clean("/greeter/say/hello") && is_clean("/greeter/say/hello/") && is_clean("/"));
        assert!(!is_clean("/greeter//say/hello") && !is_clean("/a/./b") && !is_clean("/a/../b"));
        assert_eq!(cleaned("/greeter//say/hello"), "/greeter/say/hello");
        assert_eq!(cleaned("/a/../b"), "/b");
    }

    #[test]
    fn host_path_and_grpc_resolvers_name_the_service_and_keep_the_verb() {
        let r = |k, host, path| named_route(k, "go.micro.api", host, path, "GET").map(|r| (r.short, r.method));
        assert_eq!(r(ResolverKind::Host, Some("rest:8080"), "/x"), Some(("rest:8080".into(), "GET".into())));
        assert_eq!(r(ResolverKind::Path, None, "/rest/x"), Some(("rest".into(), "GET".into())));
        assert_eq!(r(ResolverKind::Grpc, None, "/greeter.Greeter/Hello"), Some(("greeter".into(), "GET".into())));
        assert_eq!(r(ResolverKind::Host, None, "/x"), None);
        assert_eq!(r(ResolverKind::Path, None, "/"), None);
        assert_eq!(r(ResolverKind::Micro, None, "/x"), None);
        assert_eq!("GRPC".parse::<ResolverKind>(), Ok(ResolverKind::Grpc));
        assert!("dns".parse::<ResolverKind>().is_err());
    }

    #[test]
    fn candidates_try_the_short_name_second() {
        let r = api_route("go.micro.api", "/greeter/say/hello").expect("route");
        assert_eq!(candidates(&r), ["go.micro.api.greeter", "greeter"]);
        let r = api_route("", "/greeter/say/hello").expect("route");
        assert_eq!(candidates(&r), ["greeter"]);
    }
}
