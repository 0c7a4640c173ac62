//! The `/auth/` routes: pages for people (plain HTML embedded in the binary, no script, no
//! CDN) and the same operations as JSON for programs, as go-micro v5's `micro server` serves
//! `/auth/login`, `/auth/logout`, `/auth/users`, `/auth/tokens` and `/auth/scopes`.
//!
//! | route | what |
//! |---|---|
//! | `GET /auth/login`, `POST /auth/login` | the sign-in form; a form POST sets the `micro_token` cookie (HttpOnly, SameSite=Strict, Secure over TLS) and redirects, a JSON POST (`{"id","password"}`) answers `{"token","expires","account"}`; a wrong password is a 401 |
//! | `GET`/`POST /auth/logout` | revokes the caller's token and clears the cookie |
//! | `GET /auth/account` | the caller's account (JSON) |
//! | `GET /auth/key` | the public key tokens are checked with (PEM) |
//! | `/auth/users` | list (admin: all; others: themselves), create (admin), delete (admin: `DELETE /auth/users/{id}`), change a password (admin any, others their own: `POST /auth/users/{id}/password`) |
//! | `/auth/tokens` | list, create (the token shown once), revoke (`DELETE /auth/tokens/{id}`) |
//! | `/auth/rules` | list (any signed-in caller), set or remove (admin) |
//!
//! A request is answered in JSON when its body is JSON or it accepts JSON and not HTML;
//! otherwise in HTML. Changes made with the cookie alone are refused when the request's
//! `Origin` is another site's (SameSite=Strict already keeps the cookie off such requests).
//! [`require_login`] is what a dashboard page calls first: the caller, or a redirect to the
//! sign-in page for a browser and a 401 for a program.

use super::account::{Account, Role};
use super::error::{bad_request, forbidden, AUTH_ID};
use super::guard::{token_of, Guard, COOKIE_NAME};
use super::token;
use crate::{full, Body, Peer};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{HeaderValue, ACCEPT, CACHE_CONTROL, CONTENT_TYPE, HOST, LOCATION, ORIGIN, SET_COOKIE};
use hyper::{Method, Request, Response, StatusCode};
use micro::Error;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

const BASE: &str = include_str!("html/base.html");
const LOGIN: &str = include_str!("html/login.html");
const USERS: &str = include_str!("html/users.html");
const USERS_CREATE: &str = include_str!("html/users_create.html");
const TOKENS: &str = include_str!("html/tokens.html");
const RULES: &str = include_str!("html/rules.html");
const RULES_EDIT: &str = include_str!("html/rules_edit.html");

/// The largest body an `/auth/` request may send.
const MAX_BODY: usize = 64 * 1024;

/// The sign-in page's path.
pub const LOGIN_PATH: &str = "/auth/login";

/// Whether `path` is one [`serve`] answers.
pub fn is_auth_path(path: &str) -> bool {
    path == "/auth" || path.starts_with("/auth/")
}

/// Answers one `/auth/` request (see the module docs). Never fails: every failure is an answer.
pub async fn serve(guard: &Guard, req: Request<Body>) -> Response<Body> {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let method = req.method().clone();
    let rest = path.strip_prefix("/auth").unwrap_or_default().trim_start_matches('/').to_string();
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let rsp = match (method.clone(), segments.as_slice()) {
        (Method::GET | Method::HEAD, [] | ["login"]) => login_page(&req, None, StatusCode::OK),
        (Method::POST, ["login"]) => login(guard, req).await,
        (Method::GET | Method::POST, ["logout"]) => logout(guard, req),
        (Method::GET, ["account"]) => match guard.authenticate(req.headers()) {
            Ok(acc) => json_ok(StatusCode::OK, json!(acc)),
            Err(e) => error(&e),
        },
        (Method::GET, ["key"]) => {
            let mut r = Response::new(full(guard.public_key_pem().to_string()));
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/x-pem-file"));
            r
        }
        (_, ["users", ..]) => users(guard, req, &segments[1..]).await,
        (_, ["tokens", ..]) => tokens(guard, req, &segments[1..]).await,
        (_, ["rules" | "scopes", ..]) => rules(guard, req, &segments[1..]).await,
        (Method::GET | Method::POST | Method::DELETE, _) => {
            error(&Error::new(AUTH_ID, format!("no such auth route: {method} {path}"), 404))
        }
        _ => crate::error::method_not_allowed("GET, POST, DELETE"),
    };
    no_store(rsp)
}

/// The caller of a page that needs a signed-in account, or the answer to give instead: a
/// redirect to the sign-in page (coming back to this page) for a browser, a 401 with
/// go-micro's error JSON for a program.
pub fn require_login<B>(guard: &Guard, req: &Request<B>) -> Result<Account, Response<Body>> {
    guard.authenticate(req.headers()).map_err(|e| {
        if wants_html(req) && req.method() == Method::GET {
            let here = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let target =
                format!("{LOGIN_PATH}?next={}", form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>());
            redirect(&target)
        } else {
            error(&e)
        }
    })
}

// ------------------------------------------------------------------ negotiation

/// Whether the answer should be HTML: a browser's navigation or form (it accepts HTML and
/// did not send JSON).
fn wants_html<B>(req: &Request<B>) -> bool {
    let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    !sent_json(req) && accept.contains("text/html")
}

fn sent_json<B>(req: &Request<B>) -> bool {
    let ct = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    micro::host::body::media_type(ct) == "application/json"
}

/// The request's fields: a JSON object's (strings, numbers, and arrays of strings joined
/// with `,`), or a form's, or the query's for a body-less request.
async fn fields(req: Request<Body>) -> Result<(hyper::http::request::Parts, HashMap<String, String>), Response<Body>> {
    let json_body = sent_json(&req);
    let (parts, mut body) = req.into_parts();
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| error(&bad_request(format!("reading the request body: {e}"))))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > MAX_BODY {
                return Err(crate::error::too_large(MAX_BODY));
            }
            buf.extend_from_slice(&data);
        }
    }
    let mut out = HashMap::new();
    if let Some(q) = parts.uri.query() {
        out.extend(form_urlencoded::parse(q.as_bytes()).into_owned());
    }
    if json_body && !buf.is_empty() {
        let v: Value =
            serde_json::from_slice(&buf).map_err(|e| error(&bad_request(format!("request body is not JSON: {e}"))))?;
        let Some(obj) = v.as_object() else {
            return Err(error(&bad_request("request body must be a JSON object")));
        };
        for (k, v) in obj {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(","),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            out.insert(k.clone(), text);
        }
    } else {
        out.extend(form_urlencoded::parse(&buf).into_owned());
    }
    Ok((parts, out))
}

fn list(s: Option<&String>) -> Vec<String> {
    s.map(|s| s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(String::from).collect()).unwrap_or_default()
}

/// Refuses a cookie-authenticated change whose `Origin` is another site's.
fn cross_site(parts: &hyper::http::request::Parts) -> Option<Response<Body>> {
    if parts.method == Method::GET || parts.method == Method::HEAD {
        return None;
    }
    let bearer = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("bearer "));
    let origin = parts.headers.get(ORIGIN).and_then(|v| v.to_str().ok())?;
    let host = parts.headers.get(HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin).trim_end_matches('/');
    if bearer || origin_host.eq_ignore_ascii_case(host) {
        return None;
    }
    Some(error(&forbidden(format!("cross-site request refused: origin {origin} is not this site ({host})"))))
}

// ------------------------------------------------------------------ answers

fn error(e: &Error) -> Response<Body> {
    let status = u16::try_from(e.code)
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    crate::error::with_body(status, e.to_json())
}

fn json_ok(status: StatusCode, v: Value) -> Response<Body> {
    crate::error::with_body(status, v.to_string())
}

fn redirect(target: &str) -> Response<Body> {
    let mut rsp = Response::new(full(Bytes::new()));
    *rsp.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(target) {
        rsp.headers_mut().insert(LOCATION, v);
    }
    rsp
}

/// Nothing under `/auth/` is cached: pages show tokens and accounts.
fn no_store(mut rsp: Response<Body>) -> Response<Body> {
    rsp.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    rsp
}

/// HTML-escapes `s` for text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn nav(acc: Option<&Account>) -> String {
    match acc {
        None => String::new(),
        Some(a) => {
            let users = if a.is_admin() { "Users" } else { "Account" };
            format!(
                "<nav aria-label=\"Auth\"><ul><li><a href=\"/auth/users\">{users}</a></li><li><a href=\"/auth/tokens\">Tokens</a></li><li><a href=\"/auth/rules\">Rules</a></li><li><form method=\"post\" action=\"/auth/logout\"><button class=\"link\" type=\"submit\">Sign out {}</button></form></li></ul></nav>",
                esc(&a.id)
            )
        }
    }
}

fn page(status: StatusCode, title: &str, acc: Option<&Account>, main: &str) -> Response<Body> {
    let html = BASE.replace("{{title}}", &esc(title)).replace("{{nav}}", &nav(acc)).replace("{{main}}", main);
    let mut rsp = Response::new(full(html));
    *rsp.status_mut() = status;
    rsp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    rsp
}

fn message(e: Option<&Error>, notice: Option<&str>) -> String {
    match (e, notice) {
        (Some(e), _) => format!("<p class=\"error\" role=\"alert\">{}</p>", esc(&e.detail)),
        (None, Some(n)) => format!("<p class=\"notice\" role=\"status\">{n}</p>"),
        (None, None) => String::new(),
    }
}

/// A path inside this site to return to after signing in (never another site's).
fn safe_next(next: Option<&String>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n.clone(),
        _ => "/".to_string(),
    }
}

fn status_of(e: &Error) -> StatusCode {
    u16::try_from(e.code).ok().and_then(|c| StatusCode::from_u16(c).ok()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

// ------------------------------------------------------------------ login, logout

fn login_page<B>(req: &Request<B>, e: Option<&Error>, status: StatusCode) -> Response<Body> {
    let next: HashMap<String, String> =
        form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()).into_owned().collect();
    let main = LOGIN.replace("{{error}}", &message(e, None)).replace("{{next}}", &esc(&safe_next(next.get("next"))));
    page(status, "Sign in", None, &main)
}

async fn login(guard: &Guard, req: Request<Body>) -> Response<Body> {
    let html = wants_html(&req) || !sent_json(&req);
    let tls = req.extensions().get::<Peer>().is_some_and(|p| p.tls);
    let (parts, f) = match fields(req).await {
        Ok(x) => x,
        Err(rsp) => return rsp,
    };
    let id = f.get("id").or_else(|| f.get("username")).cloned().unwrap_or_default();
    let password = f.get("password").cloned().unwrap_or_default();
    match guard.login(id.trim(), &password).await {
        Ok(session) => {
            let mut rsp =
                if html { redirect(&safe_next(f.get("next"))) } else { json_ok(StatusCode::OK, json!(session)) };
            let cookie = format!(
                "{COOKIE_NAME}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
                session.token,
                session.expires.saturating_sub(token::now()),
                if tls { "; Secure" } else { "" }
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                rsp.headers_mut().append(SET_COOKIE, v);
            }
            rsp
        }
        Err(e) if html => {
            let req = Request::from_parts(parts, ());
            login_page(&req, Some(&e), status_of(&e))
        }
        Err(e) => error(&e),
    }
}

fn logout(guard: &Guard, req: Request<Body>) -> Response<Body> {
    let revoked = token_of(req.headers()).map(|t| guard.logout(&t));
    let mut rsp = if wants_html(&req) || req.method() == Method::GET {
        redirect(LOGIN_PATH)
    } else {
        match revoked {
            Some(Err(e)) => error(&e),
            _ => json_ok(StatusCode::OK, json!({"signed_out": true})),
        }
    };
    rsp.headers_mut()
        .append(SET_COOKIE, HeaderValue::from_static("micro_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"));
    rsp
}

// ------------------------------------------------------------------ users

async fn users(guard: &Guard, req: Request<Body>, rest: &[&str]) -> Response<Body> {
    let me = match require_login(guard, &req) {
        Ok(a) => a,
        Err(rsp) => return rsp,
    };
    let html = wants_html(&req);
    let method = req.method().clone();
    let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
    let (parts, f) = match fields(req).await {
        Ok(x) => x,
        Err(rsp) => return rsp,
    };
    if let Some(rsp) = cross_site(&parts) {
        return rsp;
    }
    let action = match (&method, rest.as_slice()) {
        (&Method::GET | &Method::HEAD, []) => None,
        (&Method::POST, []) => {
            Some((f.get("action").cloned().unwrap_or_else(|| "create".into()), f.get("id").cloned()))
        }
        (&Method::DELETE, [id]) => Some(("delete".to_string(), Some(id.clone()))),
        (&Method::POST, [id, what]) if what == "password" => Some(("password".to_string(), Some(id.clone()))),
        (&Method::POST, [id, what]) if what == "delete" => Some(("delete".to_string(), Some(id.clone()))),
        _ => return crate::error::method_not_allowed("GET, POST, DELETE"),
    };
    let Some((action, id)) = action else {
        return users_view(guard, &me, html, None, None);
    };
    let id = id.unwrap_or_default();
    let result: Result<(StatusCode, Value, String), Error> = match action.as_str() {
        "create" if me.is_admin() => {
            let role = match Role::parse(f.get("role").map(String::as_str).unwrap_or("user")) {
                Some(r) => r,
                None => return error(&bad_request("role must be admin or user")),
            };
            let password = f.get("password").cloned().unwrap_or_default();
            guard
                .create_account(&id, &password, role, list(f.get("scopes")))
                .await
                .map(|a| (StatusCode::CREATED, json!(a), format!("Account <strong>{}</strong> created.", esc(&a.id))))
        }
        "delete" if me.is_admin() => guard.delete_account(&id).map(|()| {
            (StatusCode::OK, json!({"deleted": id}), format!("Account <strong>{}</strong> deleted.", esc(&id)))
        }),
        "password" if me.is_admin() || me.id == id && me.token.is_none() => {
            let password = f.get("password").cloned().unwrap_or_default();
            guard.set_password(&id, &password).await.map(|()| {
                (
                    StatusCode::OK,
                    json!({"password_changed": id}),
                    format!("Password of <strong>{}</strong> changed.", esc(&id)),
                )
            })
        }
        "create" | "delete" | "password" => {
            Err(forbidden(format!("account {} may not {action} account {id}: that needs an admin", me.id)))
        }
        other => Err(bad_request(format!("unknown action {other:?}: use create, delete or password"))),
    };
    match (result, html) {
        (Ok((status, v, _)), false) => json_ok(status, v),
        (Err(e), false) => error(&e),
        (Ok((_, _, notice)), true) => users_view(guard, &me, true, None, Some(&notice)),
        (Err(e), true) => users_view(guard, &me, true, Some(&e), None),
    }
}

fn users_view(guard: &Guard, me: &Account, html: bool, e: Option<&Error>, notice: Option<&str>) -> Response<Body> {
    let accounts: Vec<Account> = guard.accounts().into_iter().filter(|a| me.is_admin() || a.id == me.id).collect();
    if !html {
        return json_ok(StatusCode::OK, json!({ "accounts": accounts }));
    }
    let rows: String = accounts
        .iter()
        .map(|a| {
            let del = if me.is_admin() {
                format!(
                    "<form method=\"post\" action=\"/auth/users/{}/delete\"><button class=\"danger\" type=\"submit\" aria-label=\"Delete account {}\">Delete</button></form>",
                    esc(&a.id), esc(&a.id)
                )
            } else {
                String::new()
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{del}</td></tr>\n",
                esc(&a.id),
                a.role.name(),
                esc(&a.scopes.join(", "))
            )
        })
        .collect();
    let main = USERS
        .replace("{{message}}", &message(e, notice))
        .replace("{{rows}}", &rows)
        .replace("{{create}}", if me.is_admin() { USERS_CREATE } else { "" })
        .replace("{{self}}", &esc(&me.id));
    let status = e.map(status_of).unwrap_or(StatusCode::OK);
    page(status, if me.is_admin() { "Users" } else { "Account" }, Some(me), &main)
}

// ------------------------------------------------------------------ tokens

async fn tokens(guard: &Guard, req: Request<Body>, rest: &[&str]) -> Response<Body> {
    let me = match require_login(guard, &req) {
        Ok(a) => a,
        Err(rsp) => return rsp,
    };
    let html = wants_html(&req);
    let method = req.method().clone();
    let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
    let (parts, f) = match fields(req).await {
        Ok(x) => x,
        Err(rsp) => return rsp,
    };
    if let Some(rsp) = cross_site(&parts) {
        return rsp;
    }
    let action = match (&method, rest.as_slice()) {
        (&Method::GET | &Method::HEAD, []) => return tokens_view(guard, &me, html, None, None, None),
        (&Method::POST, []) => (f.get("action").cloned().unwrap_or_else(|| "create".into()), f.get("id").cloned()),
        (&Method::DELETE, [id]) => ("revoke".to_string(), Some(id.clone())),
        (&Method::POST, [id, what]) if what == "revoke" => ("revoke".to_string(), Some(id.clone())),
        _ => return crate::error::method_not_allowed("GET, POST, DELETE"),
    };
    match action.0.as_str() {
        "create" => {
            let ttl = match f.get("days").map(|d| d.trim()).filter(|d| !d.is_empty()) {
                None => None,
                Some(d) => match d.parse::<u64>() {
                    Ok(n) if (1..=3650).contains(&n) => Some(Duration::from_secs(n * 86400)),
                    _ => return error(&bad_request("days must be a whole number from 1 to 3650")),
                },
            };
            let name = f.get("name").cloned().unwrap_or_default();
            match (guard.create_token(&me, &name, list(f.get("scopes")), ttl), html) {
                (Ok((rec, token)), false) => json_ok(StatusCode::CREATED, json!({"token": token, "record": rec})),
                (Ok((rec, token)), true) => tokens_view(guard, &me, true, None, None, Some((&rec.name, &token))),
                (Err(e), false) => error(&e),
                (Err(e), true) => tokens_view(guard, &me, true, Some(&e), None, None),
            }
        }
        "revoke" => {
            let id = action.1.unwrap_or_default();
            match (guard.revoke_token(&me, &id), html) {
                (Ok(()), false) => json_ok(StatusCode::OK, json!({"revoked": id})),
                (Ok(()), true) => tokens_view(guard, &me, true, None, Some("Token revoked."), None),
                (Err(e), false) => error(&e),
                (Err(e), true) => tokens_view(guard, &me, true, Some(&e), None, None),
            }
        }
        other => error(&bad_request(format!("unknown action {other:?}: use create or revoke"))),
    }
}

fn tokens_view(
    guard: &Guard,
    me: &Account,
    html: bool,
    e: Option<&Error>,
    notice: Option<&str>,
    created: Option<(&str, &str)>,
) -> Response<Body> {
    let list = guard.tokens(me);
    if !html {
        return json_ok(StatusCode::OK, json!({ "tokens": list }));
    }
    let rows: String = list
        .iter()
        .map(|t| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><time datetime=\"{}\">{}</time></td><td><form method=\"post\" action=\"/auth/tokens/{}/revoke\"><button class=\"danger\" type=\"submit\" aria-label=\"Revoke token {}\">Revoke</button></form></td></tr>\n",
                esc(&t.name),
                esc(&t.scopes.join(", ")),
                esc(&t.created_by),
                t.expires,
                days_left(t.expires),
                esc(&t.id),
                esc(&t.name)
            )
        })
        .collect();
    let msg = match created {
        Some((name, token)) => format!(
            "<div class=\"notice\" role=\"status\">Token <strong>{}</strong> created. Copy it now: it is not shown again.<code class=\"secret\">{}</code></div>",
            esc(name),
            esc(token)
        ),
        None => message(e, notice),
    };
    let main =
        TOKENS.replace("{{message}}", &msg).replace("{{rows}}", &rows).replace("{{mine}}", &esc(&me.scopes.join(", ")));
    page(e.map(status_of).unwrap_or(StatusCode::OK), "Tokens", Some(me), &main)
}

fn days_left(expires: u64) -> String {
    let secs = expires.saturating_sub(token::now());
    match secs / 86400 {
        0 => "in less than a day".into(),
        1 => "in 1 day".into(),
        n => format!("in {n} days"),
    }
}

// ------------------------------------------------------------------ rules

async fn rules(guard: &Guard, req: Request<Body>, rest: &[&str]) -> Response<Body> {
    let me = match require_login(guard, &req) {
        Ok(a) => a,
        Err(rsp) => return rsp,
    };
    let html = wants_html(&req);
    let method = req.method().clone();
    if !rest.is_empty() {
        return error(&Error::new(AUTH_ID, "no such auth route: rules take no sub-path", 404));
    }
    let (parts, f) = match fields(req).await {
        Ok(x) => x,
        Err(rsp) => return rsp,
    };
    if let Some(rsp) = cross_site(&parts) {
        return rsp;
    }
    let (resource, scopes) = match method {
        Method::GET | Method::HEAD => return rules_view(guard, &me, html, None, None),
        Method::POST if f.get("action").map(String::as_str) == Some("delete") => {
            (f.get("resource").cloned().unwrap_or_default(), Vec::new())
        }
        Method::POST | Method::PUT => (f.get("resource").cloned().unwrap_or_default(), list(f.get("scopes"))),
        Method::DELETE => (f.get("resource").cloned().unwrap_or_default(), Vec::new()),
        _ => return crate::error::method_not_allowed("GET, POST, PUT, DELETE"),
    };
    let result = if me.is_admin() {
        guard.set_rule(&resource, scopes)
    } else {
        Err(forbidden(format!("account {} may not change rules: that needs an admin", me.id)))
    };
    match (result, html) {
        (Ok(()), false) => json_ok(StatusCode::OK, json!({ "rules": guard.rules() })),
        (Err(e), false) => error(&e),
        (Ok(()), true) => rules_view(guard, &me, true, None, Some("Rules saved.")),
        (Err(e), true) => rules_view(guard, &me, true, Some(&e), None),
    }
}

fn rules_view(guard: &Guard, me: &Account, html: bool, e: Option<&Error>, notice: Option<&str>) -> Response<Body> {
    let list = guard.rules();
    if !html {
        return json_ok(StatusCode::OK, json!({ "rules": list }));
    }
    let rows: String = list
        .iter()
        .map(|r| {
            let del = if me.is_admin() {
                format!(
                    "<form method=\"post\" action=\"/auth/rules\"><input type=\"hidden\" name=\"action\" value=\"delete\"><input type=\"hidden\" name=\"resource\" value=\"{}\"><button class=\"danger\" type=\"submit\" aria-label=\"Remove rule {}\">Remove</button></form>",
                    esc(&r.resource), esc(&r.resource)
                )
            } else {
                String::new()
            };
            format!("<tr><td><code>{}</code></td><td>{}</td><td>{del}</td></tr>\n", esc(&r.resource), esc(&r.scopes.join(", ")))
        })
        .collect();
    let main = RULES
        .replace("{{message}}", &message(e, notice))
        .replace("{{rows}}", &rows)
        .replace("{{edit}}", if me.is_admin() { RULES_EDIT } else { "" });
    page(e.map(status_of).unwrap_or(StatusCode::OK), "Rules", Some(me), &main)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site_and_text_is_escaped() {
        assert_eq!(safe_next(Some(&"/dashboard?x=1".to_string())), "/dashboard?x=1");
        assert_eq!(safe_next(Some(&"//evil.example/".to_string())), "/");
        assert_eq!(safe_next(Some(&"https://evil.example/".to_string())), "/");
        assert_eq!(safe_next(None), "/");
        assert_eq!(esc("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
