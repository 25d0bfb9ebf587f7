//! `cargo xtask monitoring --grafana URL`: the Compose monitoring profile,
//! running (CI's compose-monitoring job starts it; it needs image pulls).
//! Grafana must have provisioned the dashboard file as it is, and every
//! expression must return series through Grafana's own Prometheus data
//! source: the whole chain a user opens in a browser, short of drawing.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use yaml_rust2::YamlLoader;

use super::expressions::{self, Query};
use super::{DASHBOARD, PROMETHEUS_RULE, Traffic, check_all, read};
use crate::{Error, Result, fail, log, output_of};

/// Where Compose publishes the service (compose.yaml's default `PORT`).
const SERVICE: &str = "127.0.0.1:8080";

pub(super) fn check(
    root: &Path,
    name: &str,
    grafana: &str,
    load_seconds: u64,
    plant: bool,
    traces: bool,
) -> Result<()> {
    let file = read(root, DASHBOARD)?;
    let queries =
        expressions::dashboard_queries(&file).map_err(|e| Error(format!("{DASHBOARD}: {e}")))?;
    let rules = expressions::rule_file(&read(root, PROMETHEUS_RULE)?)
        .map_err(|e| Error(format!("{PROMETHEUS_RULE}: {e}")))?;
    let alerts =
        expressions::rule_queries(&rules).map_err(|e| Error(format!("{PROMETHEUS_RULE}: {e}")))?;
    let compose = read(root, "compose.yaml")?;
    let datasource = datasource_uid(&compose, "prometheus")?;
    let jaeger = if traces {
        Some(datasource_uid(&compose, "jaeger")?)
    } else {
        None
    };
    let uid = serde_json::from_str::<Value>(&file)
        .ok()
        .and_then(|d| d["uid"].as_str().map(str::to_owned))
        .ok_or_else(|| Error(format!("{DASHBOARD} has no uid: Grafana finds it by one")))?;

    wait_for_health(grafana)?;
    let provisioned = provisioned_queries(grafana, &uid)?;
    if provisioned != queries {
        fail!(
            "Grafana at {grafana} serves dashboard {uid} with other queries than {DASHBOARD}: \
             it provisioned another file or an old copy (compose.yaml's configs.dashboard)"
        );
    }
    log(&format!(
        "Grafana provisioned {DASHBOARD} ({} queries); load for {load_seconds} s on {SERVICE}",
        queries.len()
    ));
    let service: SocketAddr = SERVICE.parse().expect("a literal address");
    let traffic = Traffic::start(service);
    thread::sleep(Duration::from_secs(load_seconds));
    let api = format!("{grafana}/api/datasources/proxy/uid/{datasource}");
    let checked = check_all(&api, &queries, &alerts, name, false, plant).and_then(|()| {
        jaeger.map_or(Ok(()), |jaeger| {
            super::traces::check(grafana, &jaeger, SERVICE, name)
        })
    });
    log(&format!("the load: {}", traffic.finish()));
    checked
}

/// The uid of the first data source of this type that Compose provisions
/// for Grafana (the inline `grafana-datasources` config of compose.yaml).
fn datasource_uid(compose: &str, kind: &str) -> Result<String> {
    let compose = YamlLoader::load_from_str(compose)
        .map_err(|e| Error(format!("compose.yaml is not valid YAML: {e}")))?;
    let content = compose
        .first()
        .and_then(|c| c["configs"]["grafana-datasources"]["content"].as_str())
        .ok_or_else(|| {
            Error("compose.yaml has no configs.grafana-datasources.content".to_owned())
        })?;
    let provisioning = YamlLoader::load_from_str(content).map_err(|e| {
        Error(format!(
            "compose.yaml's grafana-datasources is not YAML: {e}"
        ))
    })?;
    provisioning
        .first()
        .and_then(|p| p["datasources"].as_vec())
        .into_iter()
        .flatten()
        .find(|source| source["type"].as_str() == Some(kind))
        .and_then(|source| source["uid"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| {
            Error(format!(
                "compose.yaml's grafana-datasources has no {kind} data source with a uid"
            ))
        })
}

fn wait_for_health(grafana: &str) -> Result<()> {
    let start = Instant::now();
    loop {
        let healthy = Command::new("curl")
            .args(["-sSf", "--max-time", "5", &format!("{grafana}/api/health")])
            .output()
            .is_ok_and(|out| out.status.success());
        if healthy {
            return Ok(());
        }
        if start.elapsed() > Duration::from_mins(2) {
            fail!(
                "Grafana at {grafana} did not answer /api/health within 120 s (docker compose logs grafana)"
            );
        }
        thread::sleep(Duration::from_secs(1));
    }
}

/// The queries of the dashboard as Grafana serves it.
fn provisioned_queries(grafana: &str, uid: &str) -> Result<Vec<Query>> {
    let body = output_of(Command::new("curl").args([
        "-sSf",
        "--max-time",
        "10",
        &format!("{grafana}/api/dashboards/uid/{uid}"),
    ]))
    .map_err(|e| {
        Error(format!(
            "Grafana did not provision dashboard {uid} ({DASHBOARD}): {e}"
        ))
    })?;
    let answer: Value = serde_json::from_str(&body).map_err(|e| {
        Error(format!(
            "Grafana's dashboard {uid} is not JSON ({e}): {body}"
        ))
    })?;
    expressions::dashboard_queries(&answer["dashboard"].to_string())
        .map_err(|e| Error(format!("dashboard {uid} as Grafana serves it: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_datasource_uid_is_read_from_compose() {
        let root = crate::project_root().expect("the repository root");
        let compose = read(&root, "compose.yaml").expect("compose.yaml");
        assert_eq!(
            datasource_uid(&compose, "prometheus").expect("a uid"),
            "prometheus"
        );
        assert_eq!(datasource_uid(&compose, "jaeger").expect("a uid"), "jaeger");
        let err = datasource_uid(&compose, "loki").expect_err("none provisioned");
        assert!(err.0.contains("no loki data source"), "{err}");
        let err = datasource_uid("services: {}\n", "prometheus").expect_err("refused");
        assert!(err.0.contains("grafana-datasources"), "{err}");
    }
}
