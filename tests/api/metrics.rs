//! `/metrics` counts what was sent, labelled by route template.

use crate::helpers::spawn_app;

#[tokio::test]
async fn counts_requests_by_route_and_status() {
    let app = spawn_app().await;
    for _ in 0..3 {
        let response = app.post_json("/api/v1/slugify", r#"{"text": "a b"}"#).await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(app.post_json("/api/v1/slugify", "{").await.status(), 400);
    assert_eq!(app.get("/no/such/path/42").await.status(), 404);

    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.expect("text");
    for expected in [
        r#"payload_http_requests_total{method="POST",route="/api/v1/slugify",status="200"} 3"#,
        r#"payload_http_requests_total{method="POST",route="/api/v1/slugify",status="400"} 1"#,
        r#"payload_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"payload_http_request_duration_seconds_count{method="POST",route="/api/v1/slugify",status="200"} 3"#,
        "payload_build_info{",
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
    assert!(
        !text.contains("/no/such/path"),
        "raw paths must not become labels"
    );
}
