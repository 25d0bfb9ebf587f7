//! Every `PromQL` expression the monitoring files hold, each with where it
//! comes from: the dashboard's panel targets and the `PrometheusRule`'s
//! rules, in the form a Prometheus query can run.

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use crate::{Error, Result, fail};

/// One expression to ask Prometheus, and where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Query {
    /// `panel "Title" target A`, `alert Name`: what a failure names.
    pub(super) source: String,
    pub(super) expr: String,
}

/// What Grafana replaces before a query reaches Prometheus, and what stands
/// in for it here: a window that holds enough 1 s scrapes for `rate`.
const GRAFANA_VARIABLES: [(&str, &str); 3] = [
    ("$__rate_interval", "1m"),
    ("$__interval", "1m"),
    ("$__range", "1m"),
];

/// The targets of every panel of a Grafana dashboard (JSON), rows'
/// nested panels included.
pub(super) fn dashboard_queries(dashboard: &str) -> Result<Vec<Query>> {
    let dashboard: Value = serde_json::from_str(dashboard)
        .map_err(|e| Error(format!("the dashboard is not valid JSON: {e}")))?;
    let declared = dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|variable| {
            variable["name"] == "datasource"
                && variable["type"] == "datasource"
                && variable["query"] == "prometheus"
        });
    if !declared {
        fail!(
            "the dashboard declares no data-source variable; add to templating.list: \
             {{\"name\": \"datasource\", \"type\": \"datasource\", \"query\": \"prometheus\"}}"
        );
    }
    let mut queries = Vec::new();
    collect_targets(&dashboard["panels"], &mut queries)?;
    if queries.is_empty() {
        fail!("the dashboard has no panel with a Prometheus target (panels[].targets[].expr)");
    }
    Ok(queries)
}

/// What every panel and target names as its data source: the dashboard's
/// data-source variable, so the one file works on any Grafana (Compose's,
/// kube-prometheus-stack's), whatever its Prometheus is called there.
const DATASOURCE: &str = "${datasource}";

/// The targets of `panels` in order, a row's nested panels after the row.
fn collect_targets(panels: &Value, queries: &mut Vec<Query>) -> Result<()> {
    for panel in panels.as_array().into_iter().flatten() {
        let title = panel["title"].as_str().unwrap_or("(untitled)");
        for target in panel["targets"].as_array().into_iter().flatten() {
            let Some(expr) = target["expr"].as_str() else {
                continue;
            };
            let source = format!(
                "panel \"{title}\" target {}",
                target["refId"].as_str().unwrap_or("?")
            );
            for (what, datasource) in [
                ("panel", &panel["datasource"]),
                ("target", &target["datasource"]),
            ] {
                if datasource["uid"].as_str() != Some(DATASOURCE) {
                    fail!(
                        "{source}: the {what}'s datasource is {datasource}; set it to \
                         {{\"type\": \"prometheus\", \"uid\": \"{DATASOURCE}\"}}, the dashboard's \
                         data-source variable, or it breaks on a Grafana whose Prometheus has another uid"
                    );
                }
            }
            queries.push(Query {
                expr: substitute_grafana_variables(expr)
                    .map_err(|e| Error(format!("{source}: {e}")))?,
                source,
            });
        }
        collect_targets(&panel["panels"], queries)?;
    }
    Ok(())
}

fn substitute_grafana_variables(expr: &str) -> Result<String> {
    let mut expr = expr.to_owned();
    for (variable, value) in GRAFANA_VARIABLES {
        expr = expr.replace(variable, value);
    }
    if let Some(at) = expr.find('$') {
        let variable: String = expr[at..]
            .chars()
            .take_while(|c| *c == '$' || c.is_alphanumeric() || *c == '_')
            .collect();
        fail!(
            "it uses the dashboard variable {variable}, which this check cannot fill in; use \
             only {} (or teach xtask/src/monitoring/expressions.rs its value)",
            GRAFANA_VARIABLES.map(|(name, _)| name).join(", ")
        );
    }
    Ok(expr)
}

/// The Prometheus rule file (`groups:` as JSON, which Prometheus reads as
/// YAML) that a `PrometheusRule` resource's `spec` holds.
pub(super) fn rule_file(prometheus_rule: &str) -> Result<Value> {
    let docs = YamlLoader::load_from_str(prometheus_rule)
        .map_err(|e| Error(format!("the PrometheusRule is not valid YAML: {e}")))?;
    let Some(resource) = docs
        .iter()
        .find(|doc| doc["kind"].as_str() == Some("PrometheusRule"))
    else {
        fail!("the file holds no document of kind PrometheusRule");
    };
    let groups = to_json(&resource["spec"]["groups"]);
    if !groups.is_array() {
        fail!("the PrometheusRule has no spec.groups list");
    }
    Ok(serde_json::json!({ "groups": groups }))
}

/// The expression of every rule: for an alert, the part before its final
/// threshold, so a healthy service still answers with series (an alert's
/// whole expression is empty while it does not fire).
pub(super) fn rule_queries(rule_file: &Value) -> Result<Vec<Query>> {
    let mut queries = Vec::new();
    for rule in rules(rule_file) {
        let Some(expr) = rule["expr"].as_str() else {
            fail!("a rule has no expr: {rule}");
        };
        let query = match (rule["alert"].as_str(), rule["record"].as_str()) {
            (Some(alert), _) => Query {
                source: format!("alert {alert}"),
                expr: without_threshold(expr).ok_or_else(|| {
                    Error(format!(
                        "alert {alert}: its expr must end in a comparison with a number \
                         (`… > 0.01`), so its left side can be checked for series while it \
                         does not fire; got: {}",
                        expr.trim()
                    ))
                })?,
            },
            (None, Some(record)) => Query {
                source: format!("recording rule {record}"),
                expr: expr.trim().to_owned(),
            },
            (None, None) => fail!("a rule is neither an alert nor a recording rule: {rule}"),
        };
        queries.push(query);
    }
    if queries.is_empty() {
        fail!("the PrometheusRule has no rules");
    }
    Ok(queries)
}

/// The alert names of a rule file.
pub(super) fn alert_names(rule_file: &Value) -> Vec<String> {
    rules(rule_file)
        .filter_map(|rule| rule["alert"].as_str().map(str::to_owned))
        .collect()
}

/// Every rule of every group.
fn rules(rule_file: &Value) -> impl Iterator<Item = &Value> {
    rule_file["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|group| group["rules"].as_array().into_iter().flatten())
}

/// `lhs` of `lhs <op> [bool] <number>`, parenthesised; `None` when the
/// expression does not end that way.
fn without_threshold(expr: &str) -> Option<String> {
    let expr = expr.trim_end();
    let number_at = expr.rfind(char::is_whitespace)? + 1;
    expr[number_at..].parse::<f64>().ok()?;
    let rest = expr[..number_at].trim_end();
    let rest = rest.strip_suffix("bool").map_or(rest, str::trim_end);
    let lhs = [">=", "<=", "==", "!=", ">", "<"]
        .iter()
        .find_map(|op| rest.strip_suffix(op))?
        .trim();
    (!lhs.is_empty()).then(|| format!("({lhs})"))
}

/// The queries with the first metric name of the service renamed: what a
/// rename of a metric in the service, without the dashboard, looks like.
/// The check must report every one of them as returning nothing.
pub(super) fn with_renamed_metric(queries: &[Query], metric_prefix: &str) -> Vec<Query> {
    queries
        .iter()
        .filter(|query| query.expr.contains(metric_prefix))
        .map(|query| Query {
            source: format!("{} (planted: metric renamed)", query.source),
            expr: query
                .expr
                .replace(metric_prefix, &format!("{metric_prefix}renamed_")),
        })
        .collect()
}

fn to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Real(s) => s
            .parse::<f64>()
            .map_or_else(|_| Value::String(s.clone()), Value::from),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Hash(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    (
                        k.as_str().map_or_else(|| format!("{k:?}"), str::to_owned),
                        to_json(v),
                    )
                })
                .collect(),
        ),
        Yaml::Alias(_) | Yaml::Null | Yaml::BadValue => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_is_checked_without_its_threshold() {
        assert_eq!(
            without_threshold("sum(rate(x[5m]))\n/\nsum(rate(y[5m]))\n> 0.01\n").as_deref(),
            Some("(sum(rate(x[5m]))\n/\nsum(rate(y[5m])))")
        );
        assert_eq!(without_threshold("up == bool 0").as_deref(), Some("(up)"));
        assert_eq!(without_threshold("x >= 1e3").as_deref(), Some("(x)"));
        assert_eq!(without_threshold("absent(up)"), None);
        assert_eq!(without_threshold("> 1"), None);
        assert_eq!(without_threshold("x > y"), None);
    }

    #[test]
    fn reads_the_rules_of_a_prometheus_rule_resource() {
        let file = rule_file(
            "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nspec:\n  groups:\n    - name: g\n      rules:\n        - alert: TooMany\n          expr: |\n            sum(x) > 5\n          for: 5m\n        - record: job:x:sum\n          expr: sum by (job) (x)\n",
        )
        .expect("reads");
        assert_eq!(file["groups"][0]["rules"][0]["for"], "5m");
        assert_eq!(alert_names(&file), ["TooMany"]);
        assert_eq!(
            rule_queries(&file).expect("queries"),
            [
                Query {
                    source: "alert TooMany".into(),
                    expr: "(sum(x))".into()
                },
                Query {
                    source: "recording rule job:x:sum".into(),
                    expr: "sum by (job) (x)".into()
                },
            ]
        );
    }

    #[test]
    fn an_alert_without_a_threshold_is_refused_with_the_shape_it_needs() {
        let file = rule_file(
            "kind: PrometheusRule\nspec:\n  groups:\n    - name: g\n      rules:\n        - alert: Gone\n          expr: absent(up)\n",
        )
        .expect("reads");
        let err = rule_queries(&file).expect_err("refused");
        assert!(
            err.0.contains("alert Gone") && err.0.contains("> 0.01"),
            "{err}"
        );
    }

    #[test]
    fn a_file_without_a_prometheus_rule_is_refused() {
        let err = rule_file("kind: ConfigMap\n").expect_err("refused");
        assert!(
            err.0.contains("no document of kind PrometheusRule"),
            "{err}"
        );
        assert!(rule_file("kind: [").is_err());
    }

    #[test]
    fn reads_every_panel_target_with_grafana_variables_filled_in() {
        let dashboard = r#"{"templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]}, "panels": [
            {"title": "Rate", "datasource": {"uid": "${datasource}"},
             "targets": [{"refId": "A", "datasource": {"uid": "${datasource}"}, "expr": "rate(x[$__rate_interval])"}]},
            {"title": "Row", "type": "row", "panels": [
                {"title": "Inner", "datasource": {"uid": "${datasource}"},
                 "targets": [{"refId": "B", "datasource": {"uid": "${datasource}"}, "expr": "y"}]}
            ]},
            {"title": "Text", "type": "text"}
        ]}"#;
        assert_eq!(
            dashboard_queries(dashboard).expect("reads"),
            [
                Query {
                    source: "panel \"Rate\" target A".into(),
                    expr: "rate(x[1m])".into()
                },
                Query {
                    source: "panel \"Inner\" target B".into(),
                    expr: "y".into()
                },
            ]
        );
    }

    #[test]
    fn a_panel_with_a_fixed_datasource_is_refused() {
        let err = dashboard_queries(
            r#"{"templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]}, "panels": [{"title": "P", "datasource": {"uid": "PBFA97CFB590B2093"},
                "targets": [{"refId": "A", "datasource": {"uid": "${datasource}"}, "expr": "up"}]}]}"#,
        )
        .expect_err("refused");
        assert!(
            err.0
                .contains("panel \"P\" target A: the panel's datasource")
                && err.0.contains("${datasource}"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_dashboard_variable_is_named() {
        let err = dashboard_queries(
            r#"{"templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]}, "panels": [{"title": "P", "datasource": {"uid": "${datasource}"},
                "targets": [{"refId": "A", "datasource": {"uid": "${datasource}"}, "expr": "x{pod=~\"$pod\"}"}]}]}"#,
        )
        .expect_err("refused");
        assert!(
            err.0.contains("panel \"P\" target A") && err.0.contains("$pod"),
            "{err}"
        );
    }

    #[test]
    fn a_dashboard_without_its_datasource_variable_is_refused() {
        let err = dashboard_queries(r#"{"panels": []}"#).expect_err("refused");
        assert!(err.0.contains("no data-source variable"), "{err}");
    }

    #[test]
    fn a_dashboard_without_targets_or_json_is_refused() {
        assert!(dashboard_queries(r#"{"templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]}, "panels": []}"#).is_err());
        assert!(dashboard_queries("{").is_err());
    }

    #[test]
    fn the_planted_rename_touches_only_the_service_metrics() {
        let queries = [
            Query {
                source: "a".into(),
                expr: "rate(svc_requests_total[1m])".into(),
            },
            Query {
                source: "b".into(),
                expr: "up".into(),
            },
        ];
        assert_eq!(
            with_renamed_metric(&queries, "svc_"),
            [Query {
                source: "a (planted: metric renamed)".into(),
                expr: "rate(svc_renamed_requests_total[1m])".into()
            }]
        );
    }
}
