//! What the HTTP hosts that relay requests (the load balancer, the CDN edge) and the app share:
//! the headers never forwarded, a peer's response passed on, a plain-text reply, and the
//! request kind a method counts as in served reports.
//!
//! Must not: know a host's routing, caching or retries.

use super::client::HttpResponse;
use crate::seam::RequestKind;
use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// Headers that belong to one connection and are not forwarded (RFC 9110, 7.6.1), with `host`
/// (the relay names its peer) and `content-length` (recomputed from the whole body).
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
];

/// A peer's response as the relay answers it: status, body and end-to-end headers.
pub fn pass_through(response: HttpResponse) -> Response {
    let mut out = Response::new(Body::from(response.body));
    *out.status_mut() = response.status;
    let headers = out.headers_mut();
    for (name, value) in response.headers.iter().filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str())) {
        headers.append(name, value.clone());
    }
    out
}

/// A reply of `status` whose body is `text` and a newline.
pub fn plain(status: StatusCode, text: impl Into<String>) -> Response {
    let mut text = text.into();
    text.push('\n');
    (status, text).into_response()
}

/// What a request of `method` counts as in served reports.
pub fn request_kind(method: &Method) -> RequestKind {
    match *method {
        Method::GET | Method::HEAD => RequestKind::Read,
        Method::PUT | Method::POST | Method::DELETE | Method::PATCH => RequestKind::Write,
        _ => RequestKind::Other,
    }
}
