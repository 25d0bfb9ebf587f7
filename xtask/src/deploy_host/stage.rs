//! The local `deploy-host` stage: deploys under steady load through Debian's
//! nginx running deploy/host/nginx.conf, and counts every failed request.
//! Three scenarios must lose nothing (a blue-green switch, a canary that is
//! promoted, a release that never turns ready and is rolled back); two
//! planted faults (no wait for readiness, no drain) must lose requests, or
//! the load test could not see what it exists to see.

use std::fmt::Write as _;
use std::fs;
use std::process::Command;
use std::thread;
use std::time::Duration;

use super::docker::Local;
use super::flow::{self, Canary, Plan, Plant};
use crate::load::{Counts, Load, LoadPlan};
use crate::{Error, Result, fail, http, log, manifest, output_of, project_root};

const USAGE: &str = "\
Usage: scripts/deploy-host-stage.sh
       cargo xtask deploy-host-stage OLD_IMAGE NEW_IMAGE BAD_IMAGE

The deploy-host stage of scripts/ci.sh. Runs Debian's nginx with
deploy/host/nginx.conf (the file deploy/host/compose.yaml gives the nginx
image) in front of two `docker run` colours, sends steady load through it
(8 keep-alive connections, POST /api/v1/slugify every 10 ms on each), and
deploys with the same code as scripts/deploy-host.sh:

  blue-green       OLD_IMAGE is live; deploy NEW_IMAGE          0 failed
  canary           deploy OLD_IMAGE with a 10 % canary for 5 s  0 failed
  rollback         deploy BAD_IMAGE (it never turns ready)      0 failed, rolled back
  planted: no readiness wait   (BAD_IMAGE again)                must lose requests
  planted: no drain            (old colour killed first)        must lose requests

OLD_IMAGE and NEW_IMAGE must carry different git SHAs (their
org.opencontainers.image.revision labels).
Prints a table and writes it to target/deploy-host/results.md.
";

/// The load: what tests/reliability and the kind rollout test send.
const CONNECTIONS: usize = 8;
const PAUSE: Duration = Duration::from_millis(10);
const BODY: &str = r#"{"text": "Blue, green and nothing dropped"}"#;
/// Load runs this long before and after each deploy, so a failure at either
/// edge of the change lands inside the measured window.
const MARGIN: Duration = Duration::from_secs(2);

struct Scenario {
    name: &'static str,
    image: String,
    canary: Option<Canary>,
    plant: Plant,
    /// The deploy itself should fail (and roll back).
    rolls_back: bool,
}

struct Row {
    name: &'static str,
    expected: &'static str,
    counts: Counts,
    seconds: f64,
    observed: String,
    passed: bool,
}

pub(super) fn run(args: &[String]) -> Result<()> {
    let (old, new, bad) = match args {
        [flag] if flag == "-h" || flag == "--help" => {
            print!("{USAGE}");
            return Ok(());
        }
        [old, new, bad] => (old.clone(), new.clone(), bad.clone()),
        _ => {
            eprint!("{USAGE}");
            fail!(
                "give the three images to deploy, e.g. cargo xtask deploy-host-stage NAME:previous NAME:local NAME:broken (scripts/deploy-host-stage.sh builds all three)"
            );
        }
    };
    let root = project_root()?;
    let app = manifest::service_name(&root)?;
    if revision(&old)? == revision(&new)? {
        fail!(
            "{old} and {new} are built from the same commit; build OLD_IMAGE from another one (GIT_SHA=... scripts/build-image.sh)"
        );
    }

    log(
        "nginx: Debian's nginx with deploy/host/nginx.conf, the file deploy/host/compose.yaml gives the nginx image (so the stage pulls no image)",
    );
    let mut engine = Local::new(&root, &app)?;
    flow::deploy(&mut engine, &quiet_plan(&old))?;

    let canary = Canary {
        percent: 10,
        duration: Duration::from_secs(5),
        max_error_percent: 1.0,
    };
    let scenario = |name, image: &str, canary, plant, rolls_back| Scenario {
        name,
        image: image.to_owned(),
        canary,
        plant,
        rolls_back,
    };
    let scenarios = [
        scenario("blue-green switch", &new, None, Plant::None, false),
        scenario("canary, promoted", &old, Some(canary), Plant::None, false),
        scenario("bad release, rolled back", &bad, None, Plant::None, true),
        scenario(
            "planted: no readiness wait",
            &bad,
            None,
            Plant::SkipReadyWait,
            false,
        ),
        scenario("planted: no drain", &new, None, Plant::SkipDrain, false),
    ];
    let mut rows = Vec::new();
    for scenario in &scenarios {
        if scenario.plant == Plant::SkipDrain {
            // The planted readiness fault left a dead colour live: put a
            // good image back first, without load.
            flow::deploy(&mut engine, &quiet_plan(&old))?;
        }
        rows.push(measure(&mut engine, scenario)?);
    }
    engine.shut_down();

    let table = table(&rows);
    print!("\n{table}");
    let results = root.join("target/deploy-host/results.md");
    fs::write(&results, &table)
        .map_err(|e| Error(format!("cannot write {}: {e}", results.display())))?;
    let failed: Vec<&str> = rows.iter().filter(|r| !r.passed).map(|r| r.name).collect();
    if !failed.is_empty() {
        fail!(
            "deploy-host: {} did not behave as expected (table above)",
            failed.join(", ")
        );
    }
    log("deploy-host: every scenario lost 0 requests, and both planted faults were caught");
    Ok(())
}

/// A deploy without load or canary, to set the stage up.
fn quiet_plan(image: &str) -> Plan {
    Plan {
        image: image.to_owned(),
        canary: None,
        ready_timeout: Duration::from_secs(30),
        plant: Plant::None,
    }
}

/// Runs one scenario's deploy under load and judges it.
fn measure(engine: &mut Local, scenario: &Scenario) -> Result<Row> {
    let serving_before = served_sha(engine.proxy());
    log(&format!(
        "--- {}: deploying {} under load",
        scenario.name, scenario.image
    ));
    let load = Load::start(&LoadPlan {
        addr: engine.proxy(),
        connections: CONNECTIONS,
        pause: PAUSE,
        path: "/api/v1/slugify".into(),
        json_body: BODY.into(),
    });
    thread::sleep(MARGIN);
    let plan = Plan {
        image: scenario.image.clone(),
        canary: scenario.canary,
        ready_timeout: Duration::from_secs(10),
        plant: scenario.plant,
    };
    let outcome = flow::deploy(engine, &plan);
    thread::sleep(MARGIN);
    let (counts, seconds) = load.finish();
    log(&counts.summary());
    let serving = served_sha(engine.proxy());
    let serving_text = serving
        .clone()
        .unwrap_or_else(|| "nothing (or a mix)".into());
    let lost_nothing = counts.failed() == 0 && counts.ok > 0;
    let (expected, observed, passed) = match (&outcome, scenario.plant, scenario.rolls_back) {
        (_, Plant::SkipReadyWait | Plant::SkipDrain, _) => (
            "lost requests",
            "the load test saw the fault".to_owned(),
            counts.failed() > 0,
        ),
        (Err(e), Plant::None, true) => (
            "0 failed, rolled back",
            format!(
                "{}; serving {serving_text}",
                e.0.lines().next().unwrap_or_default()
            ),
            lost_nothing && serving.is_some() && serving == serving_before,
        ),
        (Ok(deployed), Plant::None, false) => (
            "0 failed",
            format!(
                "{} -> {}, switch {} ms; serving {serving_text}",
                deployed.from.map_or("-", |c| c.name()),
                deployed.to,
                deployed.switch.as_millis()
            ),
            lost_nothing && serving == Some(revision(&scenario.image)?),
        ),
        (Ok(_), Plant::None, true) => (
            "0 failed, rolled back",
            "the bad release was deployed".into(),
            false,
        ),
        (Err(e), Plant::None, false) => (
            "0 failed",
            format!(
                "the deploy failed: {}",
                e.0.lines().next().unwrap_or_default()
            ),
            false,
        ),
    };
    Ok(Row {
        name: scenario.name,
        expected,
        counts,
        seconds,
        observed,
        passed,
    })
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | expected | requests | failed | idle closes (resent) | observed | result |\n|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} in {:.1} s | {} | {} ({}) | {} | {} |",
            r.name,
            r.expected,
            r.counts.requests(),
            r.seconds,
            r.counts.failed(),
            r.counts.idle_closes,
            r.counts.resent,
            r.observed,
            if r.passed { "ok" } else { "FAILED" }
        );
    }
    out
}

/// The git SHA an image was built from.
fn revision(image: &str) -> Result<String> {
    let sha = output_of(Command::new("docker").args([
        "image",
        "inspect",
        "--format",
        "{{index .Config.Labels \"org.opencontainers.image.revision\"}}",
        image,
    ]))?;
    let sha = sha.trim();
    if sha.is_empty() {
        fail!(
            "{image} has no org.opencontainers.image.revision label; build it with scripts/build-image.sh"
        );
    }
    Ok(sha.to_owned())
}

/// The git SHA `/version` reports through the proxy, if every one of ten
/// answers agrees.
fn served_sha(proxy: std::net::SocketAddr) -> Option<String> {
    let mut seen = None;
    for _ in 0..10 {
        let body = http::get(proxy, "/version", Duration::from_secs(2))
            .ok()?
            .body;
        let sha = body
            .split("\"git_sha\":\"")
            .nth(1)?
            .split('"')
            .next()?
            .to_owned();
        if seen.get_or_insert_with(|| sha.clone()) != &sha {
            return None;
        }
    }
    seen
}
