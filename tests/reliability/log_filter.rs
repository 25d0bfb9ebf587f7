//! The log filter changes while the service runs (`LOG_FILTER_FILE`): on the
//! next poll and on SIGHUP; a filter that does not parse is refused with one
//! line and the current one stays; no request fails and the process is the
//! same throughout.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::figures::{millis, report};
use crate::raw_http::{post_json, raw_exchange};
use crate::server::{Server, spawn_server};

const CHANGED: &str = "log filter changed";
const REFUSED: &str = "log filter refused: it does not parse; the current one stays";
const ROUTE: &str = "/api/v1/slugify";
/// Long enough for a poll, a loaded machine included.
const LIMIT: Duration = Duration::from_secs(10);

/// Replaces the file the way Kubernetes updates a `ConfigMap` volume: the new
/// content appears at once, never half written.
fn swap(file: &Path, content: &str) {
    let next = file.with_extension("next");
    std::fs::write(&next, content).expect("writes the next filter");
    std::fs::rename(&next, file).expect("swaps the filter file");
}

/// The service reading its filter from a new file that says `info`, every
/// `poll_seconds`; the directory lives as long as the returned guard.
async fn with_filter_file(poll_seconds: &str) -> (tempfile::TempDir, PathBuf, Server) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("log-filter");
    std::fs::write(&file, "info").expect("writes the filter");
    let file_var = file.to_string_lossy().into_owned();
    let server = spawn_server(&[
        ("LOG_FILTER_FILE", &file_var),
        ("LOG_FILTER_POLL_SECONDS", poll_seconds),
    ])
    .await;
    (dir, file, server)
}

/// Sends `count` slugify requests (all must succeed); returns how many
/// access lines (written at `info`) the server wrote for them.
async fn logged_requests(server: &mut Server, count: u64) -> u64 {
    let before = server.responses(ROUTE);
    for _ in 0..count {
        raw_exchange(server.addr, &post_json(br#"{"text": "Log me"}"#))
            .await
            .expect_status(200);
    }
    // A change of filter is logged after the requests' lines, if any: the
    // marker orders them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.responses(ROUTE) - before
}

#[tokio::test]
#[ignore = "reliability: the real binary under load, timed, one test at a time (scripts/reliability.sh)"]
async fn the_log_filter_changes_at_runtime_from_its_file() {
    let (_dir, file, mut server) = with_filter_file("1").await;
    let pid = server.pid();
    assert_eq!(
        logged_requests(&mut server, 5).await,
        5,
        "info logs each request"
    );

    let swapped = Instant::now();
    swap(&file, "warn");
    server.wait_for_lines(CHANGED, 1, LIMIT).await;
    let after_poll = swapped.elapsed();
    assert_eq!(
        logged_requests(&mut server, 5).await,
        0,
        "warn hides the access lines"
    );

    swap(&file, "payload=loud,warn");
    server.wait_for_lines(REFUSED, 1, LIMIT).await;
    // Three more polls of the same bad file: no second line.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert_eq!(
        server.count_lines(REFUSED),
        1,
        "one line per bad filter, not per poll"
    );
    assert_eq!(
        logged_requests(&mut server, 5).await,
        0,
        "the current filter stayed"
    );

    swap(&file, "info");
    server.wait_for_lines(CHANGED, 2, LIMIT).await;
    assert_eq!(logged_requests(&mut server, 5).await, 5, "back to info");
    assert_eq!(server.pid(), pid);
    report(
        "log filter from a file, polled every 1 s",
        "info -> warn applied on the next poll; a bad filter refused once, warn kept; back to info; every request 200, same process",
        &format!(
            "applied {:.0} ms after the swap; 1 refusal over 4 polls; 20 of 20 requests 200; pid {pid} throughout",
            millis(after_poll)
        ),
    );
    server.stop().await;
}

#[tokio::test]
#[ignore = "reliability: the real binary under load, timed, one test at a time (scripts/reliability.sh)"]
async fn sighup_rereads_the_log_filter_file_at_once() {
    // No poll during the test: only SIGHUP can apply the change.
    let (_dir, file, mut server) = with_filter_file("3600").await;
    swap(&file, "warn");
    let sent = Instant::now();
    server.sighup();
    server.wait_for_lines(CHANGED, 1, LIMIT).await;
    let applied = sent.elapsed();
    assert_eq!(
        logged_requests(&mut server, 5).await,
        0,
        "warn hides the access lines"
    );
    report(
        "log filter re-read on SIGHUP (polling every hour)",
        "applied at once",
        &format!("applied {:.0} ms after SIGHUP", millis(applied)),
    );
    server.stop().await;
}
