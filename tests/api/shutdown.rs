//! The shutdown contract, against the real server.

use std::time::Duration;

use payload::configuration::Settings;
use payload::startup::ShutdownOutcome;

use crate::helpers::{spawn_app_with, test_settings};
use crate::raw_http::SlowUpload;

fn with_delay(delay: u64, timeout: u64) -> Settings {
    Settings {
        shutdown_delay_seconds: delay,
        shutdown_timeout_seconds: timeout,
        ..test_settings()
    }
}

#[tokio::test]
async fn readiness_fails_while_liveness_and_the_api_keep_answering_during_the_delay() {
    let mut app = spawn_app_with(with_delay(2, 2)).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    app.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!app.readiness.is_ready());

    let readyz = app.get("/readyz").await;
    assert_eq!(readyz.status(), 503);
    assert_eq!(
        readyz.headers()["content-type"],
        "application/problem+json; charset=utf-8"
    );
    let healthz = app.get("/healthz").await;
    assert_eq!(healthz.status(), 200);
    // Keep-alive clients are told to reconnect (to a ready replica).
    assert_eq!(healthz.headers()["connection"], "close");
    let api = app
        .post_json("/api/v1/slugify", r#"{"text": "still served"}"#)
        .await;
    assert_eq!(api.status(), 200);

    assert_eq!(app.stopped().await, ShutdownOutcome::Drained);
}

#[tokio::test]
async fn new_connections_are_refused_after_the_delay() {
    let mut app = spawn_app_with(with_delay(0, 2)).await;
    let addr = app.addr;
    app.begin_shutdown();
    assert_eq!(app.stopped().await, ShutdownOutcome::Drained);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn an_in_flight_request_completes_across_shutdown() {
    let mut app = spawn_app_with(with_delay(0, 5)).await;
    let upload = SlowUpload::start(app.addr, r#"{"text": "in flight"}"#, 6).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    app.begin_shutdown();
    // The listener is closed by now; the open request must still finish.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = upload.finish().await;

    assert_eq!(
        response.expect_status(200).body_text(),
        r#"{"slug":"in-flight"}"#
    );
    assert_eq!(app.stopped().await, ShutdownOutcome::Drained);
}

#[tokio::test]
async fn a_request_longer_than_the_timeout_is_cut_off_and_shutdown_still_ends() {
    let mut app = spawn_app_with(Settings {
        request_timeout_seconds: 30,
        ..with_delay(0, 1)
    })
    .await;
    let _never_finished = SlowUpload::start(app.addr, r#"{"text": "never finished"}"#, 10).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    app.begin_shutdown();
    let started = std::time::Instant::now();
    let outcome = app.stopped().await;
    assert_eq!(outcome, ShutdownOutcome::TimedOut { cut_off: 1 });
    // Ended by the 1 s shutdown timeout, not by the request's own 30 s one
    // (the bound leaves a busy machine room; the reliability stage times it).
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "shutdown waited {:?} for a request it should have cut off after 1 s",
        started.elapsed()
    );
}
