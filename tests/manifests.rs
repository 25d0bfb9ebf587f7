//! Invariants of the Kubernetes manifests, checked on what `kubectl kustomize`
//! renders for each overlay: what a deploy applies, not the source files, so
//! an overlay's patch cannot quietly undo the hardening of the base.
//!
//! Needs `kubectl` (kustomize is built in), as the config-lint stage does;
//! without it the overlay tests fail saying what to install.

use std::path::Path;
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

/// The service's defaults (`docs/service.md`), for a manifest that leaves the variables unset.
const DEFAULT_SHUTDOWN_DELAY_SECONDS: i64 = 5;
const DEFAULT_SHUTDOWN_TIMEOUT_SECONDS: i64 = 20;
/// The image's numeric non-root user.
const IMAGE_UID: i64 = 65532;
/// One replica per node loss, and one to keep serving during a rollout.
const MIN_REPLICAS: i64 = 2;

#[test]
fn kind_overlay_keeps_the_invariants() {
    check_overlay("kind");
}

#[test]
fn production_overlay_keeps_the_invariants() {
    check_overlay("production");
}

/// The checks can fail: a Deployment that breaks the rules is reported once
/// for each broken rule, naming the resource.
#[test]
fn a_weakened_deployment_is_reported() {
    let docs = YamlLoader::load_from_str(WEAKENED).expect("the test YAML parses");
    let problems = violations(&docs);
    let expected = [
        "Deployment/weak: replicas is 1",
        "Deployment/weak: rollingUpdate.maxUnavailable must be 0",
        "Deployment/weak: rollingUpdate.maxSurge must be 1",
        "Deployment/weak: automountServiceAccountToken must be false",
        "container app: terminationGracePeriodSeconds is 20",
        "Deployment/weak: minReadySeconds must be set",
        "container app: image `app:latest` uses the mutable tag `latest`",
        "container sidecar: image `registry:5000/side` has neither a tag nor a digest",
        "container app: runAsNonRoot must be true",
        "container app: runAsUser must be 65532",
        "container app: readOnlyRootFilesystem must be true",
        "container app: allowPrivilegeEscalation must be false",
        "container app: capabilities.drop must contain ALL",
        "container app: seccompProfile.type must be RuntimeDefault",
        "container app: livenessProbe must GET /healthz",
        "container app: readinessProbe must be an httpGet probe",
        "container app: has no startupProbe",
        "container app: has an exec preStop hook",
        "container app: LOG_FILTER_FILE is not set",
    ];
    for wanted in expected {
        assert!(
            problems.iter().any(|p| p.contains(wanted)),
            "expected a problem containing {wanted:?}; got:\n  {}",
            problems.join("\n  ")
        );
    }
}

#[test]
fn a_log_filter_mounted_with_subpath_is_reported() {
    let docs = YamlLoader::load_from_str(
        r"
kind: Deployment
metadata: {name: svc}
spec:
  template:
    spec:
      volumes: [{name: f, configMap: {name: other}}]
      containers:
        - name: app
          ports: [{name: http, containerPort: 8080}]
          env: [{name: LOG_FILTER_FILE, value: /etc/f/filter}]
          volumeMounts: [{name: f, mountPath: /etc/f, subPath: filter}]
",
    )
    .expect("the test YAML parses");
    let mut problems = Vec::new();
    check_log_filter(&docs[0], &docs, &mut problems);
    for wanted in [
        "mounted with subPath",
        "must be the ConfigMap svc-log-filter (found \"other\")",
        "no ConfigMap svc-log-filter with the key \"filter\"",
    ] {
        assert!(
            problems.iter().any(|p| p.contains(wanted)),
            "expected a problem containing {wanted:?}; got:\n  {}",
            problems.join("\n  ")
        );
    }
}

fn check_overlay(overlay: &str) {
    let problems = violations(&render(overlay));
    assert!(
        problems.is_empty(),
        "k8s/overlays/{overlay} breaks {} invariant(s):\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    );
}

/// `kubectl kustomize k8s/overlays/<overlay>`, parsed.
fn render(overlay: &str) -> Vec<Yaml> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("k8s/overlays")
        .join(overlay);
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(&dir)
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "cannot run kubectl ({err}): the manifest invariants are checked on what \
                 `kubectl kustomize` renders. Install kubectl (it embeds kustomize): \
                 https://kubernetes.io/docs/tasks/tools/"
            )
        });
    assert!(
        output.status.success(),
        "`kubectl kustomize {}` failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let yaml = String::from_utf8(output.stdout).expect("kubectl prints UTF-8");
    YamlLoader::load_from_str(&yaml).expect("kubectl kustomize prints valid YAML")
}

/// Every broken invariant, one human-readable line each.
fn violations(docs: &[Yaml]) -> Vec<String> {
    let mut problems = Vec::new();
    let deployments: Vec<&Yaml> = docs.iter().filter(|d| kind(d) == "Deployment").collect();
    if deployments.is_empty() {
        problems.push("no Deployment rendered".to_owned());
    }
    for deployment in deployments {
        check_rollout(deployment, docs, &mut problems);
        check_pod(deployment, &mut problems);
        check_log_filter(deployment, docs, &mut problems);
    }
    problems
}

/// The service's container reads its log filter from the `ConfigMap` that
/// docs/kubernetes.md tells operators to edit: `<deployment>-log-filter`,
/// mounted as a directory. A `subPath` mount never sees an update, so the
/// filter would silently stop changing.
fn check_log_filter(deployment: &Yaml, docs: &[Yaml], problems: &mut Vec<String>) {
    let pod = &deployment["spec"]["template"]["spec"];
    let config_map = format!("{}-log-filter", name(deployment));
    for container in items(&pod["containers"])
        .filter(|c| items(&c["ports"]).any(|p| p["name"].as_str() == Some("http")))
    {
        let who = format!("{} container {}", resource(deployment), name(container));
        let Some(file) = items(&container["env"])
            .find(|e| e["name"].as_str() == Some("LOG_FILTER_FILE"))
            .and_then(|e| e["value"].as_str())
        else {
            problems.push(format!("{who}: LOG_FILTER_FILE is not set, so the log filter cannot change without a restart"));
            continue;
        };
        let (dir, key) = file.rsplit_once('/').unwrap_or(("", file));
        let Some(mount) =
            items(&container["volumeMounts"]).find(|m| m["mountPath"].as_str() == Some(dir))
        else {
            problems.push(format!(
                "{who}: LOG_FILTER_FILE is {file:?} but no volume is mounted at {dir:?}"
            ));
            continue;
        };
        if !mount["subPath"].is_badvalue() {
            problems.push(format!("{who}: the log filter volume is mounted with subPath, which never receives ConfigMap updates"));
        }
        let volume = items(&pod["volumes"]).find(|v| v["name"] == mount["name"]);
        let source = volume.map_or("", |v| v["configMap"]["name"].as_str().unwrap_or(""));
        if source != config_map {
            problems.push(format!(
                "{who}: the log filter volume must be the ConfigMap {config_map} (found {source:?}): the documented kubectl commands edit that one"
            ));
        }
        let rendered = docs
            .iter()
            .find(|d| kind(d) == "ConfigMap" && name(d) == config_map);
        if rendered.is_none_or(|map| map["data"][key].is_badvalue()) {
            problems.push(format!(
                "{who}: no ConfigMap {config_map} with the key {key:?} is rendered"
            ));
        }
    }
}

fn check_rollout(deployment: &Yaml, docs: &[Yaml], problems: &mut Vec<String>) {
    let who = resource(deployment);
    let spec = &deployment["spec"];
    match spec["replicas"].as_i64() {
        Some(n) if n >= MIN_REPLICAS => {}
        Some(n) => problems.push(format!("{who}: replicas is {n}, want at least {MIN_REPLICAS}")),
        // Left to an HPA (the production overlay): its floor must hold.
        None => match hpa_min_replicas(docs, name(deployment)) {
            Some(n) if n >= MIN_REPLICAS => {}
            found => problems.push(format!(
                "{who}: sets no replicas and no HPA keeps at least {MIN_REPLICAS} (HPA minReplicas: {found:?})"
            )),
        },
    }
    let rolling = &spec["strategy"]["rollingUpdate"];
    if !is_zero(&rolling["maxUnavailable"]) {
        problems.push(format!(
            "{who}: rollingUpdate.maxUnavailable must be 0 (found {}), or a rollout drops capacity",
            show(&rolling["maxUnavailable"])
        ));
    }
    if rolling["maxSurge"].as_i64() != Some(1) {
        problems.push(format!(
            "{who}: rollingUpdate.maxSurge must be 1 (found {})",
            show(&rolling["maxSurge"])
        ));
    }
    if spec["minReadySeconds"].as_i64().unwrap_or(0) <= 0 {
        problems.push(format!("{who}: minReadySeconds must be set (> 0)"));
    }
}

fn check_pod(deployment: &Yaml, problems: &mut Vec<String>) {
    let who = resource(deployment);
    let pod = &deployment["spec"]["template"]["spec"];
    if pod["automountServiceAccountToken"].as_bool() != Some(false) {
        problems.push(format!(
            "{who}: automountServiceAccountToken must be false (found {}): the service never calls the API",
            show(&pod["automountServiceAccountToken"])
        ));
    }
    for container in items(&pod["initContainers"]).chain(items(&pod["containers"])) {
        let who = format!("{who} container {}", name(container));
        check_image(&who, container, problems);
        check_security(&who, container, pod, problems);
        check_hooks(&who, container, problems);
    }
    for container in items(&pod["containers"]) {
        let who = format!("{who} container {}", name(container));
        check_probes(&who, container, problems);
        check_grace_period(&who, container, pod, problems);
    }
}

fn check_image(who: &str, container: &Yaml, problems: &mut Vec<String>) {
    let image = container["image"].as_str().unwrap_or("");
    let (reference, digest) = match image.split_once('@') {
        Some((reference, digest)) => (reference, Some(digest)),
        None => (image, None),
    };
    // A tag follows the last ':' unless that ':' is a registry's port.
    let tag = reference
        .rsplit_once(':')
        .map(|(_, tag)| tag)
        .filter(|tag| !tag.contains('/'));
    match (tag, digest) {
        (Some("latest"), _) => {
            problems.push(format!(
                "{who}: image `{image}` uses the mutable tag `latest`"
            ));
        }
        (None, None) => problems.push(format!(
            "{who}: image `{image}` has neither a tag nor a digest, which means `latest`"
        )),
        _ => {}
    }
}

fn check_security(who: &str, container: &Yaml, pod: &Yaml, problems: &mut Vec<String>) {
    let own = &container["securityContext"];
    let mut require = |ok: bool, what: &str, found: &Yaml| {
        if !ok {
            problems.push(format!("{who}: {what} (found {})", show(found)));
        }
    };
    let run_as_non_root = effective(container, pod, "runAsNonRoot");
    require(
        run_as_non_root.as_bool() == Some(true),
        "runAsNonRoot must be true",
        run_as_non_root,
    );
    let run_as_user = effective(container, pod, "runAsUser");
    require(
        run_as_user.as_i64() == Some(IMAGE_UID),
        &format!("runAsUser must be {IMAGE_UID}, the image's user"),
        run_as_user,
    );
    let read_only = &own["readOnlyRootFilesystem"];
    require(
        read_only.as_bool() == Some(true),
        "readOnlyRootFilesystem must be true",
        read_only,
    );
    let escalation = &own["allowPrivilegeEscalation"];
    require(
        escalation.as_bool() == Some(false),
        "allowPrivilegeEscalation must be false",
        escalation,
    );
    let drop = &own["capabilities"]["drop"];
    require(
        items(drop).any(|c| c.as_str() == Some("ALL")),
        "capabilities.drop must contain ALL",
        drop,
    );
    let seccomp = &effective(container, pod, "seccompProfile")["type"];
    require(
        seccomp.as_str() == Some("RuntimeDefault"),
        "seccompProfile.type must be RuntimeDefault",
        seccomp,
    );
}

/// The image has no shell, so an exec hook can only fail.
fn check_hooks(who: &str, container: &Yaml, problems: &mut Vec<String>) {
    for hook in ["postStart", "preStop"] {
        if !container["lifecycle"][hook]["exec"].is_badvalue() {
            problems.push(format!(
                "{who}: has an exec {hook} hook, but the image has no shell"
            ));
        }
    }
}

fn check_probes(who: &str, container: &Yaml, problems: &mut Vec<String>) {
    for (probe, path) in [
        ("livenessProbe", Some("/healthz")),
        ("readinessProbe", Some("/readyz")),
        ("startupProbe", None),
    ] {
        let get = &container[probe]["httpGet"];
        if container[probe].is_badvalue() {
            problems.push(format!("{who}: has no {probe}"));
        } else if get.is_badvalue() {
            problems.push(format!(
                "{who}: {probe} must be an httpGet probe (the image has no shell for exec)"
            ));
        } else if let Some(path) = path.filter(|path| get["path"].as_str() != Some(path)) {
            problems.push(format!(
                "{who}: {probe} must GET {path} (found {})",
                show(&get["path"])
            ));
        } else if !serves_http(container, &get["port"]) {
            problems.push(format!(
                "{who}: {probe} must probe the container's `http` port (found {})",
                show(&get["port"])
            ));
        }
    }
}

/// The kubelet's SIGKILL must come after the service's own shutdown ends.
fn check_grace_period(who: &str, container: &Yaml, pod: &Yaml, problems: &mut Vec<String>) {
    let delay = env_seconds(
        container,
        "SHUTDOWN_DELAY_SECONDS",
        DEFAULT_SHUTDOWN_DELAY_SECONDS,
    );
    let timeout = env_seconds(
        container,
        "SHUTDOWN_TIMEOUT_SECONDS",
        DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
    );
    let (delay, timeout) = match (delay, timeout) {
        (Ok(delay), Ok(timeout)) => (delay, timeout),
        (Err(problem), _) | (_, Err(problem)) => {
            problems.push(format!("{who}: {problem}"));
            return;
        }
    };
    match pod["terminationGracePeriodSeconds"].as_i64() {
        Some(grace) if grace > delay + timeout => {}
        grace => problems.push(format!(
            "{who}: terminationGracePeriodSeconds is {}, must be more than \
             SHUTDOWN_DELAY_SECONDS + SHUTDOWN_TIMEOUT_SECONDS = {delay} + {timeout}",
            grace.map_or_else(|| "unset".to_owned(), |g| g.to_string())
        )),
    }
}

/// An integer variable from the container's `env`, or its default.
fn env_seconds(container: &Yaml, var: &str, default: i64) -> Result<i64, String> {
    let Some(entry) = items(&container["env"]).find(|e| e["name"].as_str() == Some(var)) else {
        return Ok(default);
    };
    entry["value"]
        .as_str()
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| {
            format!(
                "{var} must be a literal whole number of seconds (found {})",
                show(&entry["value"])
            )
        })
}

fn hpa_min_replicas(docs: &[Yaml], deployment: &str) -> Option<i64> {
    docs.iter()
        .filter(|d| kind(d) == "HorizontalPodAutoscaler")
        .find(|hpa| {
            let target = &hpa["spec"]["scaleTargetRef"];
            target["kind"].as_str() == Some("Deployment")
                && target["name"].as_str() == Some(deployment)
        })
        .map(|hpa| hpa["spec"]["minReplicas"].as_i64().unwrap_or(1))
}

/// A probe port that names the `http` port or carries its number.
fn serves_http(container: &Yaml, port: &Yaml) -> bool {
    items(&container["ports"])
        .filter(|p| p["name"].as_str() == Some("http"))
        .any(|p| port.as_str() == Some("http") || port.as_i64() == p["containerPort"].as_i64())
}

/// A container's setting, or the pod's when the container does not set it.
fn effective<'a>(container: &'a Yaml, pod: &'a Yaml, key: &str) -> &'a Yaml {
    let own = &container["securityContext"][key];
    if own.is_badvalue() {
        &pod["securityContext"][key]
    } else {
        own
    }
}

/// 0 as an integer or as a percentage.
fn is_zero(value: &Yaml) -> bool {
    value.as_i64() == Some(0) || matches!(value.as_str(), Some("0" | "0%"))
}

fn items(list: &Yaml) -> impl Iterator<Item = &Yaml> {
    list.as_vec().into_iter().flatten()
}

fn kind(doc: &Yaml) -> &str {
    doc["kind"].as_str().unwrap_or("")
}

fn name(doc: &Yaml) -> &str {
    doc["name"]
        .as_str()
        .or_else(|| doc["metadata"]["name"].as_str())
        .unwrap_or("?")
}

fn resource(doc: &Yaml) -> String {
    format!("{}/{}", kind(doc), name(doc))
}

fn show(value: &Yaml) -> String {
    match value {
        Yaml::BadValue => "nothing".to_owned(),
        Yaml::String(s) => format!("{s:?}"),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// Breaks every rule once: the test of the checks above.
const WEAKENED: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: weak
spec:
  replicas: 1
  strategy:
    rollingUpdate: {maxUnavailable: 1, maxSurge: 25%}
  template:
    spec:
      terminationGracePeriodSeconds: 20
      containers:
        - name: app
          image: app:latest
          ports: [{name: http, containerPort: 8080}]
          env:
            - {name: SHUTDOWN_DELAY_SECONDS, value: "5"}
          securityContext:
            capabilities: {add: [NET_ADMIN]}
          livenessProbe: {httpGet: {path: /, port: http}}
          readinessProbe: {exec: {command: [cat, /tmp/ready]}}
          lifecycle:
            preStop: {exec: {command: [sleep, "5"]}}
        - name: sidecar
          image: registry:5000/side
"#;
