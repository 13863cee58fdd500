//! The web page: `GET /` (HTML), `/app.js` (its script) and `/app.css` (its stylesheet).
//!
//! The page holds no inline code or style, so its Content-Security-Policy can allow scripts
//! and styles from this origin only (`'self'`), never inline ones.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// The page's HTML; it loads [`SCRIPT`] and [`STYLE`] from this origin and nothing else.
const PAGE: &str = include_str!("index.html");

/// The page's script.
const SCRIPT: &str = include_str!("app.js");

/// The page's stylesheet.
const STYLE: &str = include_str!("app.css");

/// The page's Content-Security-Policy: scripts, styles, images, videos and requests from this
/// origin only, no inline code, no framing by other sites.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; media-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// `GET /`: the web page, with its Content-Security-Policy.
pub(crate) async fn page() -> Response {
    let mut response = asset("text/html; charset=utf-8", PAGE);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    response
}

/// `GET /app.js`: the page's script.
pub(crate) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /app.css`: the page's stylesheet.
pub(crate) async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// A part of the page: revalidated on every load, so that a new version is seen at once.
fn asset(content_type: &'static str, text: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    (headers, text).into_response()
}
