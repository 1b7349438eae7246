//! The console's static files, compiled into the binary: one stylesheet and one script.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The stylesheet.
pub const CSS: &str = include_str!("../../assets/console/console.css");
/// The sign-in script (WebCrypto key, IndexedDB, signed challenges, session renewal).
pub const SIGNIN_JS: &str = include_str!("../../assets/console/signin.js");

/// `GET /console/assets/{name}`.
pub(super) async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "signin.js" => (SIGNIN_JS, "text/javascript; charset=utf-8"),
        _ => return super::page::not_found().await,
    };
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    r
}
