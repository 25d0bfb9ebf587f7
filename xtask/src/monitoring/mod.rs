//! `cargo xtask monitoring`: the dashboard and the alerts against a real
//! Prometheus. promtool checks the rules and runs their unit tests; then
//! Prometheus scrapes the service under load, and every expression of the
//! dashboard and of the `PrometheusRule` must parse and return series, so no
//! panel stays empty after a metric is renamed. With `--plant-faults`, a
//! renamed metric and an expression that does not parse must be caught.

mod expressions;
mod grafana;
mod prometheus;
mod rule_tests;
mod traces;

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::bench::server::{Launch, Server};
use crate::bench::system::{free_port, require_tool};
use crate::bench::table::{Align, Table};
use crate::cli::Args;
use crate::load::{Load, LoadPlan};
use crate::{Error, Result, fail, log, manifest, output_of, project_root, step_summary};

use expressions::Query;
use prometheus::Answer;

const USAGE: &str = "\
Usage: cargo xtask monitoring [--binary PATH] [--load-seconds N] [--plant-faults]
       cargo xtask monitoring --grafana URL [--load-seconds N] [--plant-faults] [--traces]

Checks the monitoring files against the real tools, with everything on 127.0.0.1:
  1. promtool checks the rules of k8s/components/monitoring/prometheusrule.yaml
     and runs their unit tests, tests/monitoring/alerts.test.yaml; every alert
     needs a case where it fires and one where it stays silent;
  2. the service runs under load (valid and invalid requests, probes, 404s)
     while Prometheus scrapes it every second with those rules loaded;
  3. every expression of k8s/components/monitoring/dashboard.json and every
     rule's (an alert's without its threshold) must parse and return at least
     one series, and every rule must evaluate without error.

  --binary PATH      the service binary (default: the debug build, made with
                     cargo build --locked)
  --load-seconds N   load before the queries, 5 to 300 (default 12)
  --plant-faults     also check that a metric renamed in the dashboard and an
                     expression that does not parse are both reported
  --grafana URL      instead of 1 to 3: check `docker compose --profile monitoring up`
                     (its service on 127.0.0.1:8080, Grafana at URL): Grafana
                     provisioned this dashboard, and every dashboard and alert
                     expression returns series through Grafana's Prometheus data
                     source, under the same load (what CI's compose-monitoring job runs)
  --traces           with --grafana, and `--profile tracing` up with the service's
                     OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318: a request sent
                     with a traceparent must come back as that trace, with the
                     service's server span, through Grafana's Jaeger data source

Needs curl, and without --grafana prometheus and promtool (Debian's
prometheus package).
Output: target/monitoring/ (rules.json, prometheus.yml, logs) and a table,
also appended to the GitHub job summary when GITHUB_STEP_SUMMARY is set.
";

const DASHBOARD: &str = "k8s/components/monitoring/dashboard.json";
const PROMETHEUS_RULE: &str = "k8s/components/monitoring/prometheusrule.yaml";
const ALERT_TESTS: &str = "tests/monitoring/alerts.test.yaml";
const PROMETHEUS_HINT: &str = "install Debian's prometheus package (apt-get install prometheus), which has prometheus and promtool";

/// The command line; see [`USAGE`].
#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    binary: Option<PathBuf>,
    load_seconds: u64,
    plant: bool,
    grafana: Option<String>,
    traces: bool,
}

/// The options, or `None` for `--help`.
fn parse(args: Vec<String>) -> Result<Option<Options>> {
    let mut args = Args::new(args, "cargo xtask monitoring --help");
    let mut options = Options {
        load_seconds: 12,
        ..Options::default()
    };
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--binary" => {
                options.binary = Some(PathBuf::from(args.value("--binary", "target/debug/NAME")?));
            }
            "--load-seconds" => options.load_seconds = args.number("--load-seconds", 5, 300)?,
            "--plant-faults" => options.plant = true,
            "--grafana" => {
                options.grafana = Some(args.value("--grafana", "http://127.0.0.1:3000")?);
            }
            "--traces" => options.traces = true,
            other => return Err(args.unknown(other)),
        }
    }
    if options.traces && options.grafana.is_none() {
        fail!("--traces checks Compose's tracing profile through Grafana: add --grafana URL");
    }
    Ok(Some(options))
}

pub fn run(args: Vec<String>) -> Result<()> {
    let Some(Options {
        binary,
        load_seconds,
        plant,
        grafana,
        traces,
    }) = parse(args)?
    else {
        print!("{USAGE}");
        return Ok(());
    };
    let root = project_root()?;
    let name = manifest::service_name(&root)?;
    if let Some(grafana) = grafana {
        return grafana::check(
            &root,
            &name,
            grafana.trim_end_matches('/'),
            load_seconds,
            plant,
            traces,
        );
    }
    let out = root.join("target/monitoring");
    fs::create_dir_all(&out).map_err(|e| Error(format!("cannot create {}: {e}", out.display())))?;
    let prometheus = require_tool("prometheus", PROMETHEUS_HINT)?;
    let promtool = require_tool("promtool", PROMETHEUS_HINT)?;
    require_tool("curl", "install curl")?;

    let rules = expressions::rule_file(&read(&root, PROMETHEUS_RULE)?)
        .map_err(|e| Error(format!("{PROMETHEUS_RULE}: {e}")))?;
    let rule_path = out.join("rules.json");
    write(&rule_path, &rules.to_string())?;
    unit_test_rules(&root, &rule_path, &promtool, &rules)?;

    let dashboard = expressions::dashboard_queries(&read(&root, DASHBOARD)?)
        .map_err(|e| Error(format!("{DASHBOARD}: {e}")))?;
    let alert_queries =
        expressions::rule_queries(&rules).map_err(|e| Error(format!("{PROMETHEUS_RULE}: {e}")))?;
    let binary = match binary {
        Some(binary) => binary,
        None => crate::build_service(&root, &name, false)?,
    };

    let service_port = free_port()?;
    let mut service = Server::start(&Launch::service(
        &name,
        &binary,
        service_port,
        "info",
        out.join("service.log"),
    ))?;
    service.wait_ready(
        service_port,
        "/readyz",
        Duration::from_secs(20),
        Duration::from_millis(50),
    )?;
    let prometheus_port = free_port()?;
    let config_path = out.join("prometheus.yml");
    write(
        &config_path,
        &prometheus::config(&name, service_port, &rule_path),
    )?;
    let tsdb = out.join("tsdb");
    // Each run starts from an empty database: old series must not answer.
    let _ = fs::remove_dir_all(&tsdb);
    let mut prometheus_server = Server::start(&Launch {
        name: "prometheus".to_owned(),
        program: prometheus,
        args: vec![
            format!("--config.file={}", config_path.display()),
            format!("--storage.tsdb.path={}", tsdb.display()),
            format!("--web.listen-address=127.0.0.1:{prometheus_port}"),
        ],
        env: Vec::new(),
        cpu: None,
        log: out.join("prometheus.log"),
    })?;
    prometheus_server.wait_ready(
        prometheus_port,
        "/-/ready",
        Duration::from_secs(30),
        Duration::from_millis(100),
    )?;

    log(&format!(
        "load for {load_seconds} s while Prometheus scrapes the service every second"
    ));
    let traffic = Traffic::start(SocketAddr::from((Ipv4Addr::LOCALHOST, service_port)));
    thread::sleep(Duration::from_secs(load_seconds));
    let api = format!("http://127.0.0.1:{prometheus_port}");
    let checked = check_all(&api, &dashboard, &alert_queries, &name, true, plant);
    let load = traffic.finish();
    service.stop(Duration::from_secs(10));
    prometheus_server.stop(Duration::from_secs(10));
    log(&format!("the load: {load}"));
    checked
}

/// promtool's own checks of the rules, and their unit tests run against
/// the rules as Prometheus loads them (the test file is copied next to the
/// extracted rules, which it names relative to itself).
fn unit_test_rules(
    root: &Path,
    rule_path: &Path,
    promtool: &Path,
    rules: &serde_json::Value,
) -> Result<()> {
    let tests = read(root, ALERT_TESTS)?;
    rule_tests::check_coverage(&tests, &expressions::alert_names(rules))?;
    log(&format!("promtool check rules ({PROMETHEUS_RULE})"));
    print!(
        "{}",
        output_of(
            Command::new(promtool)
                .arg("check")
                .arg("rules")
                .arg(rule_path)
        )?
    );
    log(&format!("promtool test rules ({ALERT_TESTS})"));
    let test_copy = rule_path.with_file_name("alerts.test.yaml");
    write(&test_copy, &tests)?;
    let result = output_of(
        Command::new(promtool)
            .arg("test")
            .arg("rules")
            .arg(&test_copy),
    )
    .map_err(|e| Error(format!("the alert unit tests in {ALERT_TESTS} failed: {e}")))?;
    print!("{result}");
    Ok(())
}

/// Asks Prometheus every query and every rule's health; prints the table and
/// fails naming each query that returned nothing or did not parse.
fn check_all(
    api: &str,
    dashboard: &[Query],
    rules: &[Query],
    name: &str,
    rules_loaded: bool,
    plant: bool,
) -> Result<()> {
    wait_for_scrapes(api, name)?;
    let mut table = Table::new(&[
        ("expression of", Align::Left),
        ("series", Align::Right),
        ("first value", Align::Right),
        ("result", Align::Left),
    ]);
    let mut failures = Vec::new();
    for query in dashboard.iter().chain(rules) {
        let answer = prometheus::query(api, &query.expr)?;
        let (series, value, problem) = describe(&answer);
        let result = match problem {
            Some(problem) => {
                failures.push(format!("{}: {problem}\n    {}", query.source, query.expr));
                format!("FAILED: {problem}")
            }
            None => "ok".to_owned(),
        };
        table.row([query.source.clone(), series, value, result]);
    }
    let health = if rules_loaded {
        rule_health_after_evaluation(api)?
    } else {
        Vec::new()
    };
    for (rule, health, error) in health {
        let ok = health == "ok";
        if !ok {
            failures.push(format!("rule {rule}: Prometheus reports {health}: {error}"));
        }
        table.row([
            format!("rule {rule}, as Prometheus evaluates it"),
            "-".to_owned(),
            "-".to_owned(),
            if ok {
                "ok".to_owned()
            } else {
                format!("FAILED: {health} {error}")
            },
        ]);
    }
    if plant {
        planted_faults(api, dashboard, name, &mut table, &mut failures)?;
    }
    println!("{table}");
    step_summary(&format!(
        "### Monitoring: dashboard and alert expressions against Prometheus\n\n{table}\n"
    ));
    if !failures.is_empty() {
        fail!(
            "{} check(s) failed; a panel or alert with no series means a metric it names is not \
             exported (renamed, or never observed under this load); fix the expression in {DASHBOARD} \
             or {PROMETHEUS_RULE}, or the metric in src/metrics.rs:\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    Ok(())
}

/// The planted faults must each be reported: a metric renamed in every
/// dashboard expression that names the service's metrics, and an expression
/// that does not parse.
fn planted_faults(
    api: &str,
    dashboard: &[Query],
    name: &str,
    table: &mut Table,
    failures: &mut Vec<String>,
) -> Result<()> {
    let prefix = format!("{}_", name.replace('-', "_"));
    let mut planted = expressions::with_renamed_metric(dashboard, &prefix);
    planted.push(Query {
        source: "planted: an expression that does not parse".to_owned(),
        expr: format!("sum by (route (rate({prefix}http_requests_total[1m]))"),
    });
    for query in planted {
        let answer = prometheus::query(api, &query.expr)?;
        let (series, _, problem) = describe(&answer);
        let result = if let Some(problem) = problem {
            format!("caught: {problem}")
        } else {
            failures.push(format!(
                "{}: the check did not catch it (it returned {series} series)\n    {}",
                query.source, query.expr
            ));
            "FAILED: not caught".to_owned()
        };
        table.row([query.source, series, "-".to_owned(), result]);
    }
    Ok(())
}

/// Series count, first value and what is wrong with one answer (`None`
/// when it has series).
fn describe(answer: &Answer) -> (String, String, Option<String>) {
    match answer {
        Answer::Series(0, _) => ("0".to_owned(), "-".to_owned(), Some("no series".to_owned())),
        Answer::Series(n, value) => (n.to_string(), value.clone(), None),
        Answer::Refused(reason) => (
            "-".to_owned(),
            "-".to_owned(),
            Some(format!("refused: {reason}")),
        ),
    }
}

/// Until Prometheus has scraped the service three times (`rate` needs two
/// samples in its window).
fn wait_for_scrapes(api: &str, name: &str) -> Result<()> {
    let start = Instant::now();
    let expr = format!("count_over_time(up{{job=\"{name}\"}}[1m]) >= 3");
    loop {
        if matches!(prometheus::query(api, &expr)?, Answer::Series(n, _) if n > 0) {
            return Ok(());
        }
        if start.elapsed() > Duration::from_mins(1) {
            fail!(
                "Prometheus ({api}) has not scraped the service (job {name}) 3 times within 60 s; \
                 locally its log is target/monitoring/prometheus.log"
            );
        }
        thread::sleep(Duration::from_millis(500));
    }
}

/// The rules' health once each has been evaluated at least once.
fn rule_health_after_evaluation(api: &str) -> Result<Vec<(String, String, String)>> {
    let start = Instant::now();
    loop {
        let health = prometheus::rule_health(api)?;
        if health.is_empty() {
            fail!(
                "Prometheus loaded no rules from target/monitoring/rules.json; its log: target/monitoring/prometheus.log"
            );
        }
        if health.iter().all(|(_, h, _)| h != "unknown")
            || start.elapsed() > Duration::from_secs(10)
        {
            return Ok(health);
        }
        thread::sleep(Duration::from_millis(500));
    }
}

/// The load the dashboard charts: valid and invalid API requests, probes
/// and requests for routes that do not exist.
struct Traffic {
    loads: Vec<Load>,
    stop: Arc<AtomicBool>,
    probes: thread::JoinHandle<()>,
}

impl Traffic {
    fn start(addr: SocketAddr) -> Self {
        let plan = |json_body: &str| LoadPlan {
            addr,
            connections: 2,
            pause: Duration::from_millis(10),
            path: "/api/v1/slugify".to_owned(),
            json_body: json_body.to_owned(),
        };
        let loads = vec![
            Load::start(&plan(r#"{"text": "Hello, monitoring"}"#)),
            Load::start(&plan(r#"{"not": "a slugify request"}"#)),
        ];
        let stop = Arc::new(AtomicBool::new(false));
        let probing = Arc::clone(&stop);
        let probes = thread::spawn(move || {
            while !probing.load(Ordering::Relaxed) {
                for path in ["/healthz", "/readyz", "/no-such-route"] {
                    let _ = crate::http::get(addr, path, Duration::from_secs(2));
                }
                thread::sleep(Duration::from_millis(50));
            }
        });
        Self {
            loads,
            stop,
            probes,
        }
    }

    /// What each load got: the valid requests should all be 2xx, the
    /// invalid ones all 4xx.
    fn finish(self) -> String {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.probes.join();
        let mut counts = self.loads.into_iter().map(|load| load.finish().0);
        let valid = counts.next().unwrap_or_default();
        let invalid = counts.next().unwrap_or_default();
        format!(
            "valid requests: {}; invalid requests: {} sent, {} answered non-2xx as they should, {} lost in transport",
            valid.summary(),
            invalid.requests(),
            invalid.non_2xx,
            invalid.failed() - invalid.non_2xx
        )
    }
}

fn read(root: &Path, file: &str) -> Result<String> {
    fs::read_to_string(root.join(file)).map_err(|e| Error(format!("cannot read {file}: {e}")))
}

fn write(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).map_err(|e| Error(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use yaml_rust2::YamlLoader;

    use super::*;

    /// Compose's Grafana provisions the file this stage checks, not a copy.
    #[test]
    fn compose_provisions_the_dashboard_this_stage_checks() {
        let root = project_root().expect("the repository root");
        let compose =
            YamlLoader::load_from_str(&read(&root, "compose.yaml").expect("compose.yaml"))
                .expect("compose.yaml is YAML");
        assert_eq!(
            compose[0]["configs"]["dashboard"]["file"].as_str(),
            Some(format!("./{DASHBOARD}").as_str()),
            "compose.yaml's configs.dashboard.file must be {DASHBOARD}"
        );
        let grafana_configs: Vec<&str> = compose[0]["services"]["grafana"]["configs"]
            .as_vec()
            .expect("the grafana service mounts configs")
            .iter()
            .filter_map(|config| config["source"].as_str())
            .collect();
        assert!(
            grafana_configs.contains(&"dashboard"),
            "{grafana_configs:?}"
        );
        for source in grafana_configs {
            assert!(
                !compose[0]["configs"][source].is_badvalue(),
                "the grafana service mounts config {source}, which compose.yaml does not define"
            );
        }
    }
}
