//! What a stage's run came to, and the summary table of a whole run.

use std::fmt::{self, Write as _};

/// A stage's result. SKIPPED is the stage's own word that it cannot run on
/// this machine (exit 3 after a `SKIPPED: <reason>` line), never a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    Passed,
    Skipped(String),
    /// The exit status, `None` when a signal ended the stage.
    Failed(Option<i32>),
}

impl Verdict {
    pub(super) fn is_failed(&self) -> bool {
        matches!(self, Self::Failed(_))
    }

    /// The verdict of a stage that exited with `code` and printed `output`.
    pub(super) fn of(code: Option<i32>, output: &str) -> Self {
        let reason = output
            .lines()
            .filter_map(|line| line.strip_prefix("SKIPPED: "))
            .next_back();
        match (code, reason) {
            (Some(0), _) => Self::Passed,
            (Some(3), Some(reason)) => Self::Skipped(reason.to_owned()),
            (code, _) => Self::Failed(code),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Passed => f.write_str("PASSED"),
            Self::Skipped(reason) => write!(f, "SKIPPED ({reason})"),
            Self::Failed(Some(code)) => write!(f, "FAILED (exit {code})"),
            Self::Failed(None) => f.write_str("FAILED (killed by a signal)"),
        }
    }
}

/// One stage of a run: its name, verdict and whole seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Row {
    pub(super) stage: &'static str,
    pub(super) verdict: Verdict,
    pub(super) seconds: u64,
}

/// The terminal's table, its column sized to the longest result (skip
/// reasons can be long).
pub(super) fn table(rows: &[Row]) -> String {
    let results: Vec<String> = rows.iter().map(|row| row.verdict.to_string()).collect();
    let width = results.iter().map(String::len).max().unwrap_or(0).max(6);
    let mut out = format!(
        "{:<15} | {:<width$} | {:>7}\n",
        "stage", "result", "seconds"
    );
    out.push_str(&"-".repeat(15 + width + 13));
    out.push('\n');
    for (row, result) in rows.iter().zip(&results) {
        let _ = writeln!(
            out,
            "{:<15} | {result:<width$} | {:>7}",
            row.stage, row.seconds
        );
    }
    out
}

/// The same table in Markdown, for the job summary.
pub(super) fn markdown(rows: &[Row]) -> String {
    let mut out = String::from("| stage | result | seconds |\n|---|---|---:|\n");
    for row in rows {
        let _ = writeln!(out, "| {} | {} | {} |", row.stage, row.verdict, row.seconds);
    }
    out
}

/// `15 passed, 0 failed, 2 skipped (stages), 2158s in total; ...`.
pub(super) fn totals(rows: &[Row], seconds: u64) -> String {
    let count = |f: fn(&Verdict) -> bool| rows.iter().filter(|row| f(&row.verdict)).count();
    format!(
        "{} passed, {} failed, {} skipped (stages), {seconds}s in total; logs in target/ci-logs/",
        count(|v| *v == Verdict::Passed),
        count(Verdict::is_failed),
        count(|v| matches!(v, Verdict::Skipped(_))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_3_is_a_skip_only_with_a_reason_and_the_last_reason_counts() {
        assert_eq!(Verdict::of(Some(0), "SKIPPED: ignored"), Verdict::Passed);
        assert_eq!(
            Verdict::of(Some(3), "x\nSKIPPED: no kind\nSKIPPED: no Docker\n"),
            Verdict::Skipped("no Docker".into())
        );
        assert_eq!(
            Verdict::of(Some(3), "no reason given"),
            Verdict::Failed(Some(3))
        );
        assert_eq!(Verdict::of(Some(1), "SKIPPED: x"), Verdict::Failed(Some(1)));
        assert_eq!(
            Verdict::of(None, "").to_string(),
            "FAILED (killed by a signal)"
        );
        assert_eq!(Verdict::Failed(Some(2)).to_string(), "FAILED (exit 2)");
    }

    #[test]
    fn the_tables_and_totals_count_every_verdict() {
        let rows = [
            Row {
                stage: "test",
                verdict: Verdict::Passed,
                seconds: 61,
            },
            Row {
                stage: "deploy",
                verdict: Verdict::Skipped("no kind".into()),
                seconds: 0,
            },
            Row {
                stage: "fuzz",
                verdict: Verdict::Failed(Some(1)),
                seconds: 7,
            },
        ];
        let table = table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "stage           | result            | seconds");
        assert_eq!(lines[1].len(), lines[0].len());
        assert_eq!(lines[3], "deploy          | SKIPPED (no kind) |       0");
        assert_eq!(
            markdown(&rows).lines().nth(4),
            Some("| fuzz | FAILED (exit 1) | 7 |")
        );
        assert_eq!(
            totals(&rows, 68),
            "1 passed, 1 failed, 1 skipped (stages), 68s in total; logs in target/ci-logs/"
        );
    }
}
