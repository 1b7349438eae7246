//! Every request of the public API: a fresh request id (any id the client sent is dropped),
//! returned in `x-request-id` and recorded in the request's span with its method and route
//! template; its latency, status and bytes in and out counted by route template (never the
//! raw path, which holds ids).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, Method, StatusCode};
use axum::middleware::{Next, from_fn, map_request};
use axum::response::Response;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tracing::Instrument;

use super::metrics::names;

/// The header carrying the request id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// Wrap `router` (already holding every route) with request ids, spans and metrics.
pub fn instrument(router: Router) -> Router {
    // Layers run outermost last-added first: drop the client's id, set a fresh one, copy it
    // to the response, then observe.
    router
        .layer(from_fn(observe))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(map_request(drop_client_request_id))
}

async fn drop_client_request_id(mut req: Request) -> Request {
    req.headers_mut().remove(REQUEST_ID);
    req
}

/// The method as a label: the standard ones by name, anything else as `OTHER`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// What became of one `/v1/sync` request, from its status.
pub fn sync_outcome(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "ok",
        401 | 403 => "refused",
        413 => "too_large",
        429 => "rate_limited",
        400..=499 => "rejected",
        503 => "unavailable",
        _ => "error",
    }
}

async fn observe(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned());
    let method = method_label(req.method());
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let span = tracing::info_span!("request", request_id = %request_id, method, route = %route);
    let bytes_in = metrics::counter!(names::REQUEST_BYTES, "route" => route.clone());
    let req = req.map(|body| Counted::wrap(body, bytes_in));
    let started = Instant::now();
    let response = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status();
    metrics::histogram!(names::REQUEST_DURATION, "route" => route.clone(), "method" => method)
        .record(elapsed.as_secs_f64());
    metrics::counter!(
        names::REQUESTS,
        "route" => route.clone(),
        "method" => method,
        "status" => status.as_u16().to_string()
    )
    .increment(1);
    if route == "/v1/sync" {
        metrics::counter!(names::SYNCS, "outcome" => sync_outcome(status)).increment(1);
    }
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    let bytes_out = metrics::counter!(names::RESPONSE_BYTES, "route" => route);
    response.map(|body| Counted::wrap(body, bytes_out))
}

/// A body that adds the length of each data frame to a counter as it passes, and keeps the
/// inner body's size hint (so a response keeps its `Content-Length`).
struct Counted {
    inner: Body,
    bytes: metrics::Counter,
}

impl Counted {
    fn wrap(inner: Body, bytes: metrics::Counter) -> Body {
        Body::new(Self { inner, bytes })
    }
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            this.bytes.increment(data.len() as u64);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::post;
    use tower::ServiceExt;

    #[tokio::test]
    async fn answers_keep_their_length_and_get_a_fresh_request_id() {
        let app =
            instrument(Router::new().route("/echo/{id}", post(|body: String| async move { body })));
        let request = axum::http::Request::post("/echo/1234")
            .header(REQUEST_ID, "client-chosen")
            .body(Body::from("hello"))
            .expect("request");
        let response = app.oneshot(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK);
        let id = response
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .expect("x-request-id")
            .to_owned();
        assert_ne!(id, "client-chosen");
        assert_eq!(id.len(), 36, "{id}");
        // The exact length survives the counting wrapper (hyper sends Content-Length).
        assert_eq!(response.body().size_hint().exact(), Some(5));
        let bytes = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .expect("body");
        assert_eq!(&bytes[..], b"hello");
    }

    #[test]
    fn sync_outcomes_name_the_status_class() {
        assert_eq!(sync_outcome(StatusCode::OK), "ok");
        assert_eq!(sync_outcome(StatusCode::UNAUTHORIZED), "refused");
        assert_eq!(sync_outcome(StatusCode::TOO_MANY_REQUESTS), "rate_limited");
        assert_eq!(sync_outcome(StatusCode::PAYLOAD_TOO_LARGE), "too_large");
        assert_eq!(sync_outcome(StatusCode::BAD_REQUEST), "rejected");
        assert_eq!(sync_outcome(StatusCode::SERVICE_UNAVAILABLE), "unavailable");
        assert_eq!(sync_outcome(StatusCode::INTERNAL_SERVER_ERROR), "error");
    }

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        let odd = Method::from_bytes(b"CASE-1234").expect("method");
        assert_eq!(method_label(&odd), "OTHER");
    }
}
