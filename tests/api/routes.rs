//! Snapshots of every endpoint's response through `app()` with `oneshot`
//! (the axum `examples/testing` style): an API change shows up in review as
//! a snapshot diff. Build-specific values are redacted.

use axum::body::Body;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use payload::app::{RequestLimits, app, app_with};
use payload::state::AppState;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::helpers::test_settings;

/// Status, content type and body of one request.
async fn exchange(request: Request<Body>) -> Value {
    let router = app(AppState::new(), RequestLimits::from(&test_settings()));
    let response = router.oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().expect("ascii").to_owned());
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    json!({ "status": status, "content_type": content_type, "body": body })
}

fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header("x-request-id", "snapshot")
        .body(Body::empty())
        .expect("valid request")
}

fn post_json(body: &str) -> Request<Body> {
    Request::post("/api/v1/slugify")
        .header("x-request-id", "snapshot")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .expect("valid request")
}

#[tokio::test]
async fn healthz() {
    insta::assert_json_snapshot!(exchange(get("/healthz")).await);
}

#[tokio::test]
async fn readyz() {
    insta::assert_json_snapshot!(exchange(get("/readyz")).await);
}

#[tokio::test]
async fn version() {
    insta::assert_json_snapshot!(exchange(get("/version")).await, {
        ".body.git_sha" => "[git_sha]",
        ".body.build_timestamp" => "[timestamp]",
        ".body.target" => "[target]",
    });
}

#[tokio::test]
async fn metrics() {
    let response = exchange(get("/metrics")).await;
    // The body changes with every build and request; its content is covered
    // by tests/api/metrics.rs. Snapshot the envelope only.
    insta::assert_json_snapshot!(response, { ".body" => "[openmetrics text]" });
}

#[tokio::test]
async fn openapi_document() {
    insta::assert_json_snapshot!(exchange(get("/openapi.json")).await);
}

#[tokio::test]
async fn slugify_ok() {
    insta::assert_json_snapshot!(exchange(post_json(r#"{"text": "Hello, World!"}"#)).await);
}

#[tokio::test]
async fn slugify_invalid_field() {
    insta::assert_json_snapshot!(exchange(post_json(r#"{"text": "x", "max_len": 999}"#)).await);
}

#[tokio::test]
async fn slugify_malformed() {
    insta::assert_json_snapshot!(exchange(post_json("{")).await);
}

#[tokio::test]
async fn not_found() {
    insta::assert_json_snapshot!(exchange(get("/nope")).await);
}

#[tokio::test]
async fn method_not_allowed() {
    insta::assert_json_snapshot!(exchange(get("/api/v1/slugify")).await);
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_document() {
    // No route of the service panics: app_with adds one to the same stack
    // that app() builds, so this proves app() installs the safety net.
    let panicking = axum::Router::new().route("/boom", axum::routing::get(boom));
    let router = app_with(
        panicking,
        AppState::new(),
        RequestLimits::from(&test_settings()),
    );
    let response = router.oneshot(get("/boom")).await.expect("infallible");
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json; charset=utf-8"
    );
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("secret"), "{text}");
    let problem: Value = serde_json::from_slice(&bytes).expect("a JSON problem document");
    assert_eq!(problem["status"], 500);
    assert_eq!(problem["request_id"], "snapshot");
}

async fn boom() -> &'static str {
    panic!("secret internal detail")
}
