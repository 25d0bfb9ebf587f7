//! The standard `process_*` metrics (the names every Prometheus client
//! library exports and every dashboard charts), read from `/proc` at scrape
//! time with the `procfs` crate: nothing runs between scrapes, nothing on the
//! request path.
//!
//! Linux only; elsewhere the collector exports nothing.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// One reading of the process's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ProcessFigures {
    cpu_seconds: f64,
    resident_memory_bytes: u64,
    virtual_memory_bytes: u64,
    open_fds: u64,
    /// `None` when the soft limit is unlimited.
    max_fds: Option<u64>,
    start_time_seconds: f64,
    threads: u64,
}

/// Exports [`ProcessFigures`] of this process on every scrape.
#[derive(Debug, Default)]
pub(super) struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // A /proc read that fails (a hardened sandbox without /proc) costs
        // the process metrics of this scrape, never the scrape itself.
        match read() {
            Some(figures) => encode(&figures, encoder),
            None => Ok(()),
        }
    }
}

/// Writes the figures under their standard names and types.
fn encode(figures: &ProcessFigures, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
    #[allow(clippy::cast_precision_loss)] // byte and fd counts far below 2^53
    let gauges = [
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            Some(figures.resident_memory_bytes as f64),
        ),
        (
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            Some(figures.virtual_memory_bytes as f64),
        ),
        (
            "process_open_fds",
            "Number of open file descriptors.",
            Some(figures.open_fds as f64),
        ),
        (
            "process_max_fds",
            "Maximum number of open file descriptors.",
            figures.max_fds.map(|max| max as f64),
        ),
        (
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            Some(figures.start_time_seconds),
        ),
        (
            "process_threads",
            "Number of OS threads in the process.",
            Some(figures.threads as f64),
        ),
    ];
    ConstCounter::new(figures.cpu_seconds).encode(encoder.encode_descriptor(
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds.",
        None,
        MetricType::Counter,
    )?)?;
    for (name, help, value) in gauges {
        if let Some(value) = value {
            ConstGauge::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Gauge,
            )?)?;
        }
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn read() -> Option<ProcessFigures> {
    use procfs::WithCurrentSystemInfo;
    use procfs::process::{LimitValue, Process};

    let process = Process::myself().ok()?;
    let stat = process.stat().ok()?;
    #[allow(clippy::cast_precision_loss)] // clock ticks far below 2^53
    let ticks = procfs::ticks_per_second() as f64;
    let boot_time = procfs::boot_time_secs().ok()?;
    let max_fds = match process.limits().ok()?.max_open_files.soft_limit {
        LimitValue::Value(max) => Some(max),
        LimitValue::Unlimited => None,
    };
    #[allow(clippy::cast_precision_loss)]
    Some(ProcessFigures {
        cpu_seconds: (stat.utime + stat.stime) as f64 / ticks,
        resident_memory_bytes: stat.rss_bytes().get(),
        virtual_memory_bytes: stat.vsize,
        open_fds: u64::try_from(process.fd_count().ok()?).ok()?,
        max_fds,
        start_time_seconds: boot_time as f64 + stat.starttime as f64 / ticks,
        threads: u64::try_from(stat.num_threads).ok()?,
    })
}

#[cfg(not(target_os = "linux"))]
fn read() -> Option<ProcessFigures> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn figures_of_this_process_are_plausible() {
        let figures = read().expect("/proc is readable in tests");
        assert!(figures.resident_memory_bytes > 1 << 20, "{figures:?}");
        assert!(figures.open_fds >= 3, "{figures:?}");
        assert!(figures.threads >= 1, "{figures:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64();
        // Started within the last hour, and not in the future (clock ticks
        // are 10 ms, so allow one).
        assert!(
            figures.start_time_seconds <= now + 0.01 && figures.start_time_seconds > now - 3600.0,
            "start {} vs now {now}",
            figures.start_time_seconds
        );
    }
}
