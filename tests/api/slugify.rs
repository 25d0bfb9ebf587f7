//! The business endpoint over the real server.

use crate::helpers::spawn_app;

#[tokio::test]
async fn slugifies_text() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/api/v1/slugify",
            r#"{"text": "Crème brûlée: a recipe!", "max_len": 12}"#,
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body, serde_json::json!({"slug": "creme-brulee"}));
}

#[tokio::test]
async fn text_without_letters_gives_an_empty_slug() {
    let app = spawn_app().await;
    let response = app.post_json("/api/v1/slugify", r#"{"text": "!!!"}"#).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body, serde_json::json!({"slug": ""}));
}

#[tokio::test]
async fn empty_text_is_422_naming_it() {
    let app = spawn_app().await;
    let response = app.post_json("/api/v1/slugify", r#"{"text": ""}"#).await;
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["errors"][0]["field"], "text");
}

#[tokio::test]
async fn json_api_headers_are_sent() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.headers()["cache-control"], "no-store");
}
