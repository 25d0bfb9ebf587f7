//! `x-request-id`: kept when acceptable, generated otherwise, always echoed.

use crate::helpers::spawn_app;

async fn echoed_id(sent: Option<&str>) -> String {
    let app = spawn_app().await;
    let mut request = app.client.get(app.url("/healthz"));
    if let Some(id) = sent {
        request = request.header("x-request-id", id);
    }
    let response = request.send().await.expect("sent");
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
    for unsafe_id in ["has space", long.as_str(), "quote\"brace{"] {
        let id = echoed_id(Some(unsafe_id)).await;
        assert_ne!(id, unsafe_id);
        assert_eq!(id.len(), 36, "a UUID: {id}");
    }
}
