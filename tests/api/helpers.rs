//! `spawn_app()`: the real server on 127.0.0.1 port 0, in this process.

use std::net::SocketAddr;
use std::time::Duration;

use payload::configuration::Settings;
use payload::startup::{Application, ShutdownOutcome};
use payload::state::Readiness;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(crate) struct TestApp {
    pub(crate) addr: SocketAddr,
    pub(crate) address: String,
    pub(crate) client: reqwest::Client,
    pub(crate) readiness: Readiness,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<ShutdownOutcome>,
}

/// Settings for tests: the documented defaults with no shutdown delay, so
/// tests that do not exercise shutdown finish at once.
pub(crate) fn test_settings() -> Settings {
    Settings {
        shutdown_delay_seconds: 0,
        shutdown_timeout_seconds: 2,
        ..Settings::defaults()
    }
}

pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(test_settings()).await
}

pub(crate) async fn spawn_app_with(settings: Settings) -> TestApp {
    let app = Application::bind_to("127.0.0.1:0".parse().expect("valid address"), settings)
        .await
        .expect("binds port 0");
    let addr = app.local_addr();
    let readiness = app.readiness();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        address: format!("http://{addr}"),
        client: reqwest::Client::builder()
            // The server is on 127.0.0.1: an HTTP_PROXY in the caller's
            // environment must not route the tests elsewhere.
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client builds"),
        readiness,
        shutdown: Some(tx),
        server,
    }
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub(crate) async fn get_with_request_id(&self, path: &str, id: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("x-request-id", id)
            .send()
            .await
            .expect("request sent")
    }

    pub(crate) async fn post_json(&self, path: &str, body: &str) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("request sent")
    }

    /// Sends the shutdown signal (as SIGTERM would).
    pub(crate) fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits for the server task to finish its shutdown.
    pub(crate) async fn stopped(mut self) -> ShutdownOutcome {
        self.begin_shutdown();
        self.server.await.expect("server task did not panic")
    }
}

/// Parses a response as a problem document after checking its media type.
pub(crate) async fn problem(response: reqwest::Response) -> serde_json::Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json; charset=utf-8");
    response.json().await.expect("a JSON problem document")
}
