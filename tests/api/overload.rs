//! The two 503 "overloaded" answers, byte for byte: the API's concurrency
//! limit (a problem document through the middleware stack) and the
//! connection limit (answered by the accept loop, outside the router).

use std::fmt::Write as _;
use std::time::Duration;

use payload::configuration::Settings;

use crate::helpers::{spawn_app_with, test_settings};
use crate::raw_http::{GET_HEALTHZ, RawResponse, SlowUpload, connect, post_json, raw_exchange};

#[tokio::test]
async fn an_api_request_over_max_concurrent_requests_is_a_503_with_retry_after() {
    let app = spawn_app_with(Settings {
        max_concurrent_requests: 1,
        ..test_settings()
    })
    .await;
    // The one slot is held by an upload waiting for the rest of its body.
    let holder = SlowUpload::start(app.addr, r#"{"text": "holds the slot"}"#, 10).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let shed = raw_exchange(app.addr, &post_json(br#"{"text": "one too many"}"#)).await;
    let response = shed.expect_status(503);
    response.problem();
    insta::assert_snapshot!(on_the_wire(response));

    holder.finish().await.expect_status(200);
}

#[tokio::test]
async fn a_connection_over_max_connections_is_a_503_and_closed() {
    let app = spawn_app_with(Settings {
        max_connections: 1,
        ..test_settings()
    })
    .await;
    let _holder = connect(app.addr).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let shed = raw_exchange(app.addr, GET_HEALTHZ).await;
    assert!(shed.closed, "{shed:?}");
    let response = shed.expect_status(503);
    response.problem();
    insta::assert_snapshot!(on_the_wire(response));
}

/// Status, headers in the order they were sent, and body; the values that
/// change on every request (date, generated request id) replaced.
fn on_the_wire(response: &RawResponse) -> String {
    let mut text = format!("{}\n", response.status);
    let mut body = response.body_text();
    for (name, value) in &response.headers {
        let shown = match name.as_str() {
            "date" => "[date]",
            "x-request-id" => {
                body = body.replace(value.as_str(), "[request id]");
                "[request id]"
            }
            _ => value,
        };
        let _ = writeln!(text, "{name}: {shown}");
    }
    format!("{text}\n{body}")
}
