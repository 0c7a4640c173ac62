//! The dashboard's page, script and style, embedded in the binary (`include_str!`): no CDN,
//! no build step, the page works offline. Every page path answers the same HTML shell; its
//! script (`/_web/app.js`) reads the path and draws that page from the dashboard's JSON.

use crate::{error, full, Body, GATEWAY_ID};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};

/// The HTML shell; `{{TITLE}}` is replaced by the dashboard's title.
const PAGE: &str = include_str!("assets/page.html");
/// The script that draws every page.
const APP_JS: &str = include_str!("assets/app.js");
/// The style sheet (readable at phone width).
const STYLE_CSS: &str = include_str!("assets/style.css");

/// The HTML page, titled `title` (escaped).
pub fn page(title: &str) -> Response<Body> {
    let escaped = title.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let mut rsp = Response::new(full(PAGE.replace("{{TITLE}}", &escaped)));
    rsp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    rsp.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    rsp
}

/// One of the embedded files by name (`app.js`, `style.css`), else a 404.
pub fn file(name: &str) -> Response<Body> {
    let (body, kind) = match name {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE_CSS, "text/css; charset=utf-8"),
        _ => return error::json(StatusCode::NOT_FOUND, GATEWAY_ID, format!("no asset {name}")),
    };
    let mut rsp = Response::new(full(body));
    rsp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    rsp.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    rsp
}
