//! The canary's verdict: the share of its answers that were 5xx while it
//! had traffic, read from its own /metrics (the `<name>_http_requests_total`
//! counter, labelled by status).

/// Requests answered so far, and how many of them with a 5xx status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Answered {
    pub(super) total: u64,
    pub(super) server_errors: u64,
}

/// Sums the `*_http_requests_total` series of a Prometheus text exposition.
/// `None` when there is no such counter family at all (the page is not the
/// service's /metrics), so a renamed metric cannot read as "no errors".
pub(super) fn answered(metrics: &str) -> Option<Answered> {
    let mut seen = false;
    let mut sum = Answered::default();
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Some((name, labels)) = series.split_once('{') else {
            continue;
        };
        if !name.ends_with("_http_requests_total") {
            continue;
        }
        seen = true;
        // Counters are floats in the text format; ours hold whole numbers,
        // which the service writes without a fraction.
        let Ok(count) = value.parse::<u64>() else {
            continue;
        };
        sum.total += count;
        if labels.contains("status=\"5") {
            sum.server_errors += count;
        }
    }
    seen.then_some(sum)
}

/// Whether the canary failed between two readings: its 5xx share above
/// `max_percent`. `Err` says why (for the rollback message).
pub(super) fn judge(
    before: Answered,
    after: Answered,
    max_percent: f64,
) -> Result<Verdict, String> {
    let total = after.total.saturating_sub(before.total);
    let errors = after.server_errors.saturating_sub(before.server_errors);
    if total == 0 {
        return Ok(Verdict::NoTraffic);
    }
    #[allow(clippy::cast_precision_loss)] // request counts are far below 2^52
    let percent = errors as f64 * 100.0 / total as f64;
    if percent > max_percent {
        Err(format!(
            "{errors} of its {total} answers were 5xx ({percent:.1} %, the limit is {max_percent} %)"
        ))
    } else {
        Ok(Verdict::Healthy { total, errors })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Healthy {
        total: u64,
        errors: u64,
    },
    /// Nothing reached the canary: it cannot be judged.
    NoTraffic,
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = r#"# HELP svc_http_requests HTTP requests answered.
# TYPE svc_http_requests counter
svc_http_requests_total{method="POST",route="/api/v1/slugify",status="200"} 90
svc_http_requests_total{method="POST",route="/api/v1/slugify",status="503"} 6
svc_http_requests_total{method="GET",route="/readyz",status="500"} 4
svc_http_request_duration_seconds_count{method="POST",route="/api/v1/slugify",status="503"} 6
svc_build_info{version="0.1.0",git_sha="abc"} 1
# EOF
"#;

    #[test]
    fn sums_answers_and_5xx_of_the_request_counter_only() {
        assert_eq!(
            answered(METRICS),
            Some(Answered {
                total: 100,
                server_errors: 10
            })
        );
        assert_eq!(
            answered("# EOF\n"),
            None,
            "no counter family: not the service's metrics"
        );
        assert_eq!(answered("<html>502 Bad Gateway</html>"), None);
    }

    #[test]
    fn judges_the_share_between_two_readings() {
        let before = Answered {
            total: 1000,
            server_errors: 50,
        };
        let healthy = Answered {
            total: 1100,
            server_errors: 51,
        };
        assert_eq!(
            judge(before, healthy, 5.0),
            Ok(Verdict::Healthy {
                total: 100,
                errors: 1
            })
        );
        let failing = Answered {
            total: 1100,
            server_errors: 60,
        };
        let Err(err) = judge(before, failing, 5.0) else {
            panic!("10 % is above 5 %")
        };
        assert!(
            err.contains("10 of its 100 answers were 5xx (10.0 %"),
            "{err}"
        );
        assert_eq!(judge(before, before, 5.0), Ok(Verdict::NoTraffic));
    }
}
