//! `x-request-id`: kept when acceptable, generated otherwise, always echoed.

use crate::helpers::{problem, spawn_app};

/// An id that would forge a second JSON log line if it were logged verbatim.
const FORGED_LOG_LINE: &str = r#"x"}{"level":"ERROR","message":"forged"#;

async fn echoed_id(sent: Option<&str>) -> String {
    let app = spawn_app().await;
    let response = match sent {
        Some(id) => app.get_with_request_id("/healthz", id).await,
        None => app.get("/healthz").await,
    };
    id_of(&response)
}

fn id_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .expect("x-request-id echoed")
        .to_str()
        .expect("ascii")
        .to_owned()
}

#[tokio::test]
async fn a_client_id_is_echoed() {
    assert_eq!(echoed_id(Some("abc-123")).await, "abc-123");
}

#[tokio::test]
async fn an_id_is_generated_when_absent() {
    let id = echoed_id(None).await;
    assert_eq!(id.len(), 36, "a UUID: {id}");
}

#[tokio::test]
async fn an_unsafe_id_is_replaced() {
    let long = "a".repeat(500);
    for unsafe_id in ["has space", long.as_str(), "quote\"brace{", FORGED_LOG_LINE] {
        let id = echoed_id(Some(unsafe_id)).await;
        assert_ne!(id, unsafe_id);
        assert_eq!(id.len(), 36, "a UUID: {id}");
    }
}

#[tokio::test]
async fn a_replaced_id_is_the_one_in_the_problem_document() {
    let app = spawn_app().await;
    let response = app
        .get_with_request_id("/no-such-route", FORGED_LOG_LINE)
        .await;
    assert_eq!(response.status(), 404);
    let header = id_of(&response);
    assert!(
        header.len() == 36 && header.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'),
        "not a fresh UUID: {header}"
    );
    let doc = problem(response).await;
    assert_eq!(doc["request_id"].as_str(), Some(header.as_str()));
    assert!(!doc.to_string().contains("forged"), "{doc}");
}
