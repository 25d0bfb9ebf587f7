//! The figures the suite prints: one `RESULT<TAB>case<TAB>expected<TAB>observed`
//! line per case, and the arithmetic behind the observed column.

use std::time::Duration;

pub(crate) fn report(case: &str, expected: &str, observed: &str) {
    println!("RESULT\t{case}\t{expected}\t{observed}");
}

#[expect(
    clippy::cast_precision_loss,
    reason = "figures for humans; counts stay far below 2^52"
)]
pub(crate) fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

#[expect(
    clippy::cast_precision_loss,
    reason = "figures for humans; RSS in KiB stays far below 2^52"
)]
pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Percentage change from `from` to `to`.
#[expect(
    clippy::cast_precision_loss,
    reason = "figures for humans; RSS in KiB stays far below 2^52"
)]
pub(crate) fn change_percent(from: u64, to: u64) -> f64 {
    (to as f64 - from as f64) * 100.0 / from as f64
}

pub(crate) fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A latency beside the figure it should reach on an idle machine, e.g.
/// `42.1 ms (target <= 100 ms: met)`. Tests assert only the bound the
/// contract sets; a busy machine misses a target without failing the suite,
/// and the table says so.
pub(crate) fn against_target(measured: Duration, target: Duration) -> String {
    let verdict = if measured <= target { "met" } else { "MISSED" };
    format!(
        "{:.1} ms (target <= {:.0} ms: {verdict})",
        millis(measured),
        millis(target)
    )
}
