//! Every error class of the contract, as problem documents.

use std::time::Duration;

use crate::helpers::{problem, spawn_app, spawn_app_with, test_settings};
use crate::raw_http::{SlowUpload, post_with, raw_exchange};

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let response = app.post_json("/api/v1/slugify", r#"{"text": "#).await;
    assert_eq!(response.status(), 400);
    let doc = problem(response).await;
    assert_eq!(doc["status"], 400);
    assert_eq!(doc["title"], "Bad Request");
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/v1/slugify"))
        .header("content-type", "text/plain")
        .body(r#"{"text": "hi"}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 415);
    assert_eq!(problem(response).await["status"], 415);
}

#[tokio::test]
async fn oversized_body_is_413() {
    let app = spawn_app_with(payload::configuration::Settings {
        max_body_bytes: 64,
        ..test_settings()
    })
    .await;
    let body = format!(r#"{{"text": "{}"}}"#, "a".repeat(1000));
    let response = app.post_json("/api/v1/slugify", &body).await;
    assert_eq!(response.status(), 413);
    assert_eq!(problem(response).await["status"], 413);
}

#[tokio::test]
async fn oversized_chunked_body_is_413() {
    let app = spawn_app_with(payload::configuration::Settings {
        max_body_bytes: 64,
        ..test_settings()
    })
    .await;
    // No content-length: the limit must hold while the body streams in.
    let chunk = "a".repeat(100);
    let body = format!("{:x}\r\n{chunk}\r\n0\r\n\r\n", chunk.len());
    let request = post_with("transfer-encoding: chunked\r\n", body.as_bytes());
    raw_exchange(app.addr, &request).await.expect_status(413);
}

#[tokio::test]
async fn failed_validation_is_422_naming_the_field() {
    let app = spawn_app().await;
    let response = app
        .post_json("/api/v1/slugify", r#"{"text": "hello", "max_len": 0}"#)
        .await;
    assert_eq!(response.status(), 422);
    let doc = problem(response).await;
    assert_eq!(doc["errors"][0]["field"], "max_len");
    assert!(doc["detail"].as_str().expect("detail").contains("max_len"));
}

#[tokio::test]
async fn a_missing_field_is_422_naming_it() {
    let app = spawn_app().await;
    let response = app.post_json("/api/v1/slugify", "{}").await;
    assert_eq!(response.status(), 422);
    assert_eq!(problem(response).await["errors"][0]["field"], "text");
}

#[tokio::test]
async fn unknown_route_is_404() {
    let app = spawn_app().await;
    let response = app.get("/nope").await;
    assert_eq!(response.status(), 404);
    assert_eq!(problem(response).await["status"], 404);
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/slugify").await;
    assert_eq!(response.status(), 405);
    let allow = response.headers().get("allow").cloned();
    assert_eq!(allow.as_ref().and_then(|v| v.to_str().ok()), Some("POST"));
    assert_eq!(problem(response).await["status"], 405);
}

#[tokio::test]
async fn error_documents_carry_the_request_id() {
    let app = spawn_app().await;
    let response = app.get_with_request_id("/nope", "trace-me-42").await;
    assert_eq!(problem(response).await["request_id"], "trace-me-42");
}

#[tokio::test]
async fn a_slow_request_times_out_with_408() {
    let settings = payload::configuration::Settings {
        request_timeout_seconds: 1,
        ..test_settings()
    };
    let app = spawn_app_with(settings).await;
    // Headers and half a body, then silence: the timeout must answer.
    let slow = SlowUpload::start(app.addr, r#"{"text": "slow"}"#, 10).await;
    let exchange = slow.abandon(Duration::from_secs(5)).await;
    // Answered by the 1 s timeout (a response, so not by the client giving
    // up at 5 s), and not sooner.
    exchange.expect_status(408).problem();
    assert!(
        exchange.answered_after >= Duration::from_millis(900),
        "{exchange:?}"
    );
}
