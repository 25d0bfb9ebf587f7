//! Which alerts the promtool test file exercises, and how: every alert
//! needs a case where it fires and one where it stays silent.

use std::collections::BTreeSet;

use yaml_rust2::YamlLoader;

use crate::{Error, Result, fail};

/// The alerts of `alerts` that the test file (promtool's `test rules`
/// format) never expects to fire, or never expects to stay silent; an
/// error naming both lists, or what to write.
pub(super) fn check_coverage(test_file: &str, alerts: &[String]) -> Result<()> {
    let docs = YamlLoader::load_from_str(test_file)
        .map_err(|e| Error(format!("the alert tests are not valid YAML: {e}")))?;
    let Some(doc) = docs.first() else {
        fail!("the alert tests file is empty");
    };
    let (mut fires, mut silent) = (BTreeSet::new(), BTreeSet::new());
    for case in doc["tests"]
        .as_vec()
        .into_iter()
        .flatten()
        .flat_map(|test| test["alert_rule_test"].as_vec().into_iter().flatten())
    {
        let Some(name) = case["alertname"].as_str() else {
            continue;
        };
        match case["exp_alerts"].as_vec() {
            Some(expected) if !expected.is_empty() => fires.insert(name),
            _ => silent.insert(name),
        };
    }
    let missing = |seen: &BTreeSet<&str>| -> Vec<&str> {
        alerts
            .iter()
            .map(String::as_str)
            .filter(|alert| !seen.contains(alert))
            .collect()
    };
    let (never_fires, never_silent) = (missing(&fires), missing(&silent));
    if never_fires.is_empty() && never_silent.is_empty() {
        return Ok(());
    }
    let mut problems = Vec::new();
    if !never_fires.is_empty() {
        problems.push(format!(
            "no case where it fires (exp_alerts with the alert): {}",
            never_fires.join(", ")
        ));
    }
    if !never_silent.is_empty() {
        problems.push(format!(
            "no case where it stays silent (exp_alerts: []): {}",
            never_silent.join(", ")
        ));
    }
    fail!(
        "every alert needs promtool tests in tests/monitoring/alerts.test.yaml; {}",
        problems.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TESTS: &str = "
tests:
  - input_series: []
    alert_rule_test:
      - alertname: Loud
        exp_alerts:
          - exp_labels: {severity: critical}
      - alertname: Loud
        exp_alerts: []
      - alertname: Quiet
        exp_alerts: []
";

    #[test]
    fn an_alert_with_both_cases_passes() {
        assert_eq!(check_coverage(TESTS, &["Loud".to_owned()]), Ok(()));
    }

    #[test]
    fn an_alert_missing_a_case_is_named_with_the_case_it_lacks() {
        let err =
            check_coverage(TESTS, &["Quiet".to_owned(), "New".to_owned()]).expect_err("refused");
        assert!(
            err.0
                .contains("no case where it fires (exp_alerts with the alert): Quiet, New"),
            "{err}"
        );
        assert!(
            err.0
                .contains("no case where it stays silent (exp_alerts: []): New"),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_not_yaml_is_refused() {
        assert!(check_coverage("tests: [", &[]).is_err());
        assert!(check_coverage("", &[]).is_err());
    }
}
