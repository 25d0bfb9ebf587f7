//! A real Prometheus for the stage: its configuration, and the two HTTP API
//! calls the checks need (an instant query, the rules' health), at a base
//! URL: Prometheus itself, or Grafana's proxy to its Prometheus data source,
//! which answers the same API. The API is asked through curl: its answers
//! are chunked, which `crate::http` does not read.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::{Error, Result, output_of};

/// Scrape and evaluate every second, so a short load gives enough samples
/// for `rate` over the windows of the dashboard and the rules.
pub(super) fn config(job: &str, target_port: u16, rule_file: &Path) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules}\n\
         scrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: [\"127.0.0.1:{target_port}\"]\n",
        rules = serde_json::Value::from(rule_file.to_string_lossy()),
    )
}

/// What an instant query answered.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Answer {
    /// How many series, and the first one's value.
    Series(usize, String),
    /// Prometheus refused the query (a parse error, an unknown function).
    Refused(String),
}

/// `GET <api>/api/v1/query?query=<expr>`.
pub(super) fn query(api: &str, expr: &str) -> Result<Answer> {
    let body = output_of(Command::new("curl").args([
        "-sS",
        "-G",
        "--max-time",
        "10",
        "--data-urlencode",
        &format!("query={expr}"),
        &format!("{api}/api/v1/query"),
    ]))?;
    parse_answer(&body)
}

fn parse_answer(body: &str) -> Result<Answer> {
    let answer: Value = serde_json::from_str(body).map_err(|e| {
        Error(format!(
            "Prometheus answered something that is not JSON ({e}): {body}"
        ))
    })?;
    if answer["status"] != "success" {
        return Ok(Answer::Refused(
            answer["error"].as_str().unwrap_or(body).to_owned(),
        ));
    }
    let result = &answer["data"]["result"];
    let series = match answer["data"]["resultType"].as_str() {
        Some("vector" | "matrix") => result.as_array().map_or(0, Vec::len),
        // A scalar or string is one value.
        _ => 1,
    };
    let first = match answer["data"]["resultType"].as_str() {
        Some("vector") => result[0]["value"][1].as_str(),
        Some("scalar" | "string") => result[1].as_str(),
        _ => None,
    };
    Ok(Answer::Series(series, first.unwrap_or("").to_owned()))
}

/// Each loaded rule's name with its health (`ok`, `err`, `unknown` before
/// its first evaluation) and last error.
pub(super) fn rule_health(api: &str) -> Result<Vec<(String, String, String)>> {
    let body = output_of(Command::new("curl").args([
        "-sS",
        "--max-time",
        "10",
        &format!("{api}/api/v1/rules"),
    ]))?;
    parse_rule_health(&body)
}

fn parse_rule_health(body: &str) -> Result<Vec<(String, String, String)>> {
    let answer: Value = serde_json::from_str(body)
        .map_err(|e| Error(format!("Prometheus's rules are not JSON ({e}): {body}")))?;
    Ok(answer["data"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|group| group["rules"].as_array().into_iter().flatten())
        .map(|rule| {
            let text = |field: &str| rule[field].as_str().unwrap_or("").to_owned();
            (text("name"), text("health"), text("lastError"))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vector_answer_counts_its_series() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"route":"/healthz"},"value":[1.7e9,"12.5"]},
            {"metric":{"route":"/readyz"},"value":[1.7e9,"3"]}]}}"#;
        assert_eq!(
            parse_answer(body).expect("parses"),
            Answer::Series(2, "12.5".into())
        );
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(
            parse_answer(empty).expect("parses"),
            Answer::Series(0, String::new())
        );
    }

    #[test]
    fn a_refused_query_keeps_prometheus_reason() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected <by>"}"#;
        assert_eq!(
            parse_answer(body).expect("parses"),
            Answer::Refused("1:5: parse error: unexpected <by>".into())
        );
        assert!(parse_answer("<html>").is_err());
    }

    #[test]
    fn reads_each_rule_health() {
        let body = r#"{"status":"success","data":{"groups":[{"name":"g","rules":[
            {"name":"A","health":"ok","lastError":""},
            {"name":"B","health":"err","lastError":"boom"}]}]}}"#;
        assert_eq!(
            parse_rule_health(body).expect("parses"),
            [
                ("A".into(), "ok".into(), String::new()),
                ("B".into(), "err".into(), "boom".into())
            ]
        );
    }

    #[test]
    fn the_config_scrapes_the_service_and_loads_the_rules() {
        let text = config("svc", 4321, Path::new("/tmp/a b/rules.json"));
        assert!(text.contains("job_name: svc"), "{text}");
        assert!(text.contains(r#"targets: ["127.0.0.1:4321"]"#), "{text}");
        assert!(text.contains(r#"- "/tmp/a b/rules.json""#), "{text}");
    }
}
