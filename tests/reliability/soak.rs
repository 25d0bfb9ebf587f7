//! A soak at saturation: no errors, and memory that stays flat.

use std::time::{Duration, Instant};

use xtask::bench::stats::percentile;
use xtask::bench::system::load_average;

use crate::figures::{change_percent, mib, millis, per_second, report};
use crate::load::{LoadGenerator, Outcome, Sample};
use crate::server::{proc_status_kib, spawn_server};

/// `RELIABILITY_SOAK_SECONDS` (default 60; `scripts/reliability.sh --quick`
/// sets 20): how long the soak runs.
fn soak_duration() -> Duration {
    let seconds = match std::env::var("RELIABILITY_SOAK_SECONDS") {
        Err(_) => 60,
        Ok(raw) => raw
            .trim()
            .parse()
            .ok()
            .filter(|s| (15..=3600).contains(s))
            .unwrap_or_else(|| {
                panic!("RELIABILITY_SOAK_SECONDS={raw:?}: expected whole seconds from 15 to 3600")
            }),
    };
    Duration::from_secs(seconds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "reliability: the real binary under load, timed, one test at a time (scripts/reliability.sh)"]
async fn soak_at_saturation_has_no_errors_and_flat_memory() {
    const CONNECTIONS: usize = 64;
    const SETTLED: Duration = Duration::from_secs(10);
    let duration = soak_duration();
    let server = spawn_server(&[]).await;
    let load_before = load_average();

    let started = Instant::now();
    let load = LoadGenerator::start(server.addr, CONNECTIONS, duration + Duration::from_secs(5));
    tokio::time::sleep(SETTLED).await;
    let rss_settled = server.rss_kib();
    let mut rss_trend = vec![rss_settled];
    while started.elapsed() + Duration::from_secs(5) <= duration {
        tokio::time::sleep(Duration::from_secs(5)).await;
        rss_trend.push(server.rss_kib());
    }
    tokio::time::sleep(duration.saturating_sub(started.elapsed())).await;
    let rss_end = server.rss_kib();
    // The kernel updates VmHWM lazily; a sample can be above it.
    let rss_peak = rss_trend
        .iter()
        .copied()
        .chain([rss_end, proc_status_kib(server.pid(), "VmHWM")])
        .max()
        .unwrap_or(rss_end);
    let samples = load.finish().await;
    let elapsed = started.elapsed();
    let server = server.stop().await;

    let errors: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.outcome != Outcome::Ok)
        .collect();
    let latencies_ms: Vec<f64> = samples.iter().map(|s| millis(s.end - s.start)).collect();
    let latency_ms = |p| percentile(&latencies_ms, p).unwrap_or(f64::NAN);
    let growth = change_percent(rss_settled, rss_end);
    report(
        &format!(
            "soak: {}s at saturation, 64 connections",
            duration.as_secs()
        ),
        "0 errors; RSS at end within 20% of RSS at 10 s",
        &format!(
            "{} errors / {} requests ({:.0} req/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.0} ms); \
             RSS {:.1} MiB at 10 s -> {:.1} MiB at end ({growth:+.1}%), every 5 s from 10 s: {:?} KiB, peak {:.1} MiB; \
             load average {load_before} -> {}",
            errors.len(),
            samples.len(),
            per_second(samples.len(), elapsed),
            latency_ms(50.0),
            latency_ms(99.0),
            latency_ms(100.0),
            mib(rss_settled),
            mib(rss_end),
            rss_trend,
            mib(rss_peak),
            load_average(),
        ),
    );
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        errors.first()
    );
    assert!(
        samples.len() > 1000,
        "the load ran: {} requests",
        samples.len()
    );
    assert!(
        growth.abs() <= 20.0,
        "RSS changed by {growth:.1}% after 10 s"
    );
    assert_eq!(
        server.responses("/api/v1/slugify"),
        u64::try_from(samples.len()).expect("fits"),
        "every request the server answered reached its client"
    );
}
