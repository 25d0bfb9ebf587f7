//! Black-box tests of the container image, run the way Kubernetes runs it:
//! read-only root filesystem, every capability dropped, no privilege
//! escalation, and only the published port to talk to.
//!
//! The image is `$PAYLOAD_IMAGE` (default `payload:local`, built by
//! `scripts/build-image.sh`). The tests that need it are ignored, so a plain
//! `cargo test` needs no Docker; the container-test stage,
//! `scripts/container-test.sh`, runs them once per platform
//! (`payload:local-amd64`, `payload:local-arm64`) with
//! `cargo nextest run --test container --run-ignored only`, and a missing
//! Docker engine or image fails them. An image for another CPU than this
//! machine's runs under QEMU (`binfmt_misc`), several times slower: every
//! wait is then `EMULATION_SLOWDOWN` times longer, and each test says so on
//! stderr.
//!
//! Docker API versions: testcontainers 0.28 has no API-version setting (it
//! ignores `DOCKER_API_VERSION`) and its bollard client is built for API 1.53,
//! newer than most engines. It still works with older ones, such as Debian's
//! docker.io 20.10 (API 1.41), because bollard 0.21 sends unversioned paths
//! (`GET /containers/json`, checked with strace) and an engine serves those
//! at its own API version. Should an upgrade start sending `/v1.5x/...`, an
//! older engine answers "client version 1.5x is too new" and the fix is a
//! newer engine. `DOCKER_HOST` picks the engine as usual.

use std::collections::HashMap;
use std::io::Write as _;
use std::time::{Duration, Instant};

use serde_json::Value;
use testcontainers::bollard::models::PortBinding;
use testcontainers::bollard::query_parameters::TopOptionsBuilder;
use testcontainers::core::client::docker_client_instance;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, Healthcheck, ImageExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NAME: &str = env!("CARGO_PKG_NAME");
const CONTAINER_PORT: u16 = 8080;
/// The numeric user the Dockerfile runs as.
const RUNTIME_UID: &str = "65532";
/// How long a container gets to answer `/readyz` with 200 after it starts.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// Factor on every timeout when the image's CPU is emulated (QEMU).
const EMULATION_SLOWDOWN: u32 = 4;

// ------------------------------------------------------------------ shared helpers

/// What the tests know about the image before starting a container.
struct Target {
    image: String,
    labels: HashMap<String, String>,
    /// `HEALTHCHECK` of the image, as Docker stores it (`["CMD", ...]`).
    healthcheck: Vec<String>,
    /// The image's CPU differs from this machine's: QEMU runs it.
    emulated: bool,
}

impl Target {
    /// `timeout`, stretched by `EMULATION_SLOWDOWN` when the image is emulated.
    fn patience(&self, timeout: Duration) -> Duration {
        if self.emulated {
            timeout * EMULATION_SLOWDOWN
        } else {
            timeout
        }
    }
}

/// Docker's name for a Rust `std::env::consts::ARCH` (`x86_64` is `amd64`).
fn docker_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The image under test; panics saying what is missing when there is no
/// Docker engine or no such image.
async fn target() -> Target {
    let image = std::env::var("PAYLOAD_IMAGE").unwrap_or_else(|_| format!("{NAME}:local"));
    let docker = docker_client_instance().await.unwrap_or_else(|err| {
        panic!("no Docker engine to talk to ({err}); start one, or point DOCKER_HOST at it")
    });
    if let Err(err) = docker.ping().await {
        panic!("no Docker engine answers ({err}); start one, or point DOCKER_HOST at it");
    }
    let inspect = docker.inspect_image(&image).await.unwrap_or_else(|err| {
        panic!("image {image} is not available ({err}); build it with scripts/build-image.sh")
    });
    let config = inspect.config.unwrap_or_default();
    let architecture = inspect.architecture.unwrap_or_default();
    let host = docker_arch(std::env::consts::ARCH);
    let emulated = !architecture.is_empty() && architecture != host;
    if emulated {
        // Straight to the stderr handle, past libtest's capture of passing
        // tests (cargo-nextest keeps it unless `--success-output immediate`).
        let test = std::thread::current().name().unwrap_or("test").to_owned();
        let _ = writeln!(
            std::io::stderr(),
            "emulated: {image} is linux/{architecture}, run by QEMU on this {host} machine: \
             timeouts x{EMULATION_SLOWDOWN} ({test})"
        );
    }
    Target {
        image,
        labels: config.labels.unwrap_or_default(),
        healthcheck: config.healthcheck.and_then(|h| h.test).unwrap_or_default(),
        emulated,
    }
}

/// Starts the image hardened as in production, with `env` on top of the
/// image's defaults. The port is published on 127.0.0.1 only. Does not wait
/// for readiness: a container that is meant to fail starts this way too.
async fn start_container(
    target: &Target,
    env: &[(&str, &str)],
    healthcheck: Option<Healthcheck>,
) -> ContainerAsync<GenericImage> {
    let (name, tag) = split_reference(&target.image);
    let mut request = GenericImage::new(name, tag)
        .with_exposed_port(CONTAINER_PORT.tcp())
        .with_readonly_rootfs(true)
        .with_cap_drop("ALL")
        .with_security_opt("no-new-privileges")
        // testcontainers publishes on every interface by default; a test
        // service has no business listening beyond this machine.
        .with_host_config_modifier(|host_config| {
            host_config.publish_all_ports = Some(false);
            host_config.port_bindings = Some(HashMap::from([(
                format!("{CONTAINER_PORT}/tcp"),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".to_owned()),
                    host_port: Some(String::new()),
                }]),
            )]));
        });
    for (key, value) in env {
        request = request.with_env_var(*key, *value);
    }
    if let Some(healthcheck) = healthcheck {
        request = request
            .with_health_check(healthcheck)
            .with_ready_conditions(vec![WaitFor::healthcheck()]);
    }
    request
        .start()
        .await
        .unwrap_or_else(|err| panic!("cannot start {}: {err}", target.image))
}

/// `registry/name:tag` into name and tag (`latest` when there is none).
fn split_reference(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (reference, "latest"),
    }
}

/// A running container that has answered `/readyz` with 200.
struct Service {
    container: ContainerAsync<GenericImage>,
    port: u16,
    http: reqwest::Client,
}

impl Service {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {path}: {err}"))
    }

    async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response
            .json()
            .await
            .unwrap_or_else(|err| panic!("GET {path} is not JSON: {err}"))
    }

    async fn slugify(&self, text: &str, request_id: &str) -> reqwest::Response {
        self.http
            .post(self.url("/api/v1/slugify"))
            .header("x-request-id", request_id)
            .json(&serde_json::json!({ "text": text }))
            .send()
            .await
            .unwrap_or_else(|err| panic!("POST /api/v1/slugify: {err}"))
    }

    /// Everything the container wrote so far, for failure messages.
    async fn logs(&self) -> String {
        container_logs(&self.container).await
    }
}

/// Starts a hardened container and waits until `/readyz` answers 200.
async fn spawn_service(target: &Target, env: &[(&str, &str)]) -> Service {
    let container = start_container(target, env, None).await;
    let port = container
        .get_host_port_ipv4(CONTAINER_PORT.tcp())
        .await
        .unwrap_or_else(|err| panic!("port {CONTAINER_PORT} is not published: {err}"));
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(target.patience(Duration::from_secs(5)))
        .build()
        .expect("a plain HTTP client builds");
    let service = Service {
        container,
        port,
        http,
    };

    let ready_timeout = target.patience(READY_TIMEOUT);
    let deadline = Instant::now() + ready_timeout;
    loop {
        if let Ok(response) = service.http.get(service.url("/readyz")).send().await
            && response.status() == 200
        {
            return service;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not answer /readyz with 200 within {ready_timeout:?}\n{}",
            target.image,
            service.logs().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn container_logs(container: &ContainerAsync<GenericImage>) -> String {
    let stdout = container.stdout_to_vec().await.unwrap_or_default();
    let stderr = container.stderr_to_vec().await.unwrap_or_default();
    format!(
        "--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    )
}

/// Waits for a container to exit on its own and returns its exit code.
async fn wait_for_exit(container: &ContainerAsync<GenericImage>, within: Duration) -> i64 {
    let deadline = Instant::now() + within;
    loop {
        if let Some(code) = container.exit_code().await.expect("docker inspect") {
            return code;
        }
        assert!(
            Instant::now() < deadline,
            "container still running after {within:?}\n{}",
            container_logs(container).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread")]
#[ignore = "container-test: needs a Docker engine and the image from scripts/build-image.sh"]
async fn probes_version_and_api_answer_through_the_published_port() {
    let target = target().await;
    let service = spawn_service(&target, &[]).await;

    assert_eq!(service.get_json("/healthz").await["status"], "ok");
    assert_eq!(service.get_json("/readyz").await["status"], "ready");

    let response = service
        .slugify("Crème brûlée: a recipe", "container-test-api")
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("x-request-id")
            .map(reqwest::header::HeaderValue::as_bytes),
        Some(&b"container-test-api"[..]),
        "the request id is echoed"
    );
    let body: Value = response.json().await.expect("slugify answers JSON");
    assert_eq!(body["slug"], "creme-brulee-a-recipe");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "container-test: needs a Docker engine and the image from scripts/build-image.sh"]
async fn version_names_the_commit_the_image_was_built_from() {
    let target = target().await;
    let service = spawn_service(&target, &[]).await;
    let version = service.get_json("/version").await;

    let label = |key: &str| {
        target
            .labels
            .get(key)
            .map(String::as_str)
            .unwrap_or_default()
    };
    let revision = label("org.opencontainers.image.revision");
    assert_eq!(version["name"], NAME);
    assert_eq!(
        version["git_sha"], revision,
        "/version and the image's revision label disagree"
    );
    assert_eq!(
        version["version"],
        label("org.opencontainers.image.version")
    );
    // scripts/container-test.sh passes the commit being tested: an image
    // left over from an older build fails here instead of passing quietly.
    if let Ok(expected) = std::env::var("EXPECTED_GIT_SHA") {
        assert_eq!(
            version["git_sha"],
            expected.as_str(),
            "the image was built from another commit"
        );
    }
    assert!(
        !label("org.opencontainers.image.source").is_empty()
            && !label("org.opencontainers.image.created").is_empty(),
        "source and created labels are set: {:?}",
        target.labels
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "container-test: needs a Docker engine and the image from scripts/build-image.sh"]
async fn metrics_count_requests_by_route_and_status() {
    let target = target().await;
    let service = spawn_service(&target, &[]).await;
    assert_eq!(
        service
            .slugify("Metrics!", "container-test-metrics")
            .await
            .status(),
        200
    );

    let response = service.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain")
            || content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.expect("metrics body");

    let counted = text.lines().any(|line| {
        line.starts_with(&format!("{NAME}_http_requests_total{{"))
            && line.contains(r#"method="POST""#)
            && line.contains(r#"route="/api/v1/slugify""#)
            && line.contains(r#"status="200""#)
            && line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) >= Some(1.0)
    });
    assert!(counted, "the POST is not counted:\n{text}");
    assert!(
        text.contains(&format!("{NAME}_http_request_duration_seconds_bucket{{")),
        "{text}"
    );
    let revision = &target.labels["org.opencontainers.image.revision"];
    assert!(
        text.lines()
            .any(|l| l.starts_with(&format!("{NAME}_build_info{{"))
                && l.contains(&format!(r#"git_sha="{revision}""#))),
        "build_info does not carry the image's revision:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "container-test: needs a Docker engine and the image from scripts/build-image.sh"]
async fn runs_as_uid_65532_with_read_only_root_and_no_capabilities() {
    let target = target().await;
    let service = spawn_service(&target, &[]).await;
    let docker = docker_client_instance().await.expect("docker client");
    let id = service.container.id();

    // The settings the container really got, not just the ones we asked for.
    let inspect = docker
        .inspect_container(id, None)
        .await
        .expect("docker inspect");
    let host_config = inspect.host_config.expect("host config");
    assert_eq!(host_config.readonly_rootfs, Some(true));
    assert_eq!(host_config.cap_drop, Some(vec!["ALL".to_owned()]));
    assert_eq!(
        inspect.config.and_then(|c| c.user).as_deref(),
        Some("65532:65532")
    );

    // What the kernel reports for the running process (ps on the host).
    let top = docker
        .top_processes(
            id,
            Some(
                TopOptionsBuilder::new()
                    .ps_args("-o pid,uid,gid,comm")
                    .build(),
            ),
        )
        .await
        .expect("docker top");
    let titles = top.titles.unwrap_or_default();
    let column = |name: &str| {
        titles
            .iter()
            .position(|t| t == name)
            .unwrap_or_else(|| panic!("no {name} in {titles:?}"))
    };
    let (uid, gid) = (column("UID"), column("GID"));
    let processes = top.processes.unwrap_or_default();
    assert!(!processes.is_empty(), "docker top lists no process");
    for process in &processes {
        assert_eq!(process[uid], RUNTIME_UID, "{titles:?} {process:?}");
        assert_eq!(process[gid], RUNTIME_UID, "{titles:?} {process:?}");
    }

    // And with all that, the API still works end to end.
    assert_eq!(
        service
            .slugify("Locked down", "container-test-hardened")
            .await
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "container-test: needs a Docker engine and the image from scripts/build-image.sh"]
async fn image_healthcheck_reports_healthy_without_a_shell() {
    let target = target().await;
    assert_eq!(
        target.healthcheck,
        ["CMD", "/payload", "healthcheck"],
        "the image's HEALTHCHECK runs the binary itself (exec form, no shell)"
    );
    // Keep the image's command, but probe every 200 ms: its 10 s interval
    // would make this test wait 10 s for the first result.
    let healthcheck = Healthcheck::empty()
        .with_interval(Duration::from_millis(200))
        .with_timeout(target.patience(Duration::from_secs(3)))
        .with_retries(5);
    let container = start_container(&target, &[], Some(healthcheck)).await;
    assert!(container.is_running().await.expect("docker inspect"));
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "container-test: needs a Docker engine and the image from scripts/build-image.sh"]
async fn sigterm_drains_the_in_flight_request_and_exits_zero_within_the_delay() {
    const DELAY: Duration = Duration::from_secs(1);
    const TIMEOUT: Duration = Duration::from_secs(5);
    let target = target().await;
    let service = spawn_service(
        &target,
        &[
            ("SHUTDOWN_DELAY_SECONDS", "1"),
            ("SHUTDOWN_TIMEOUT_SECONDS", "5"),
        ],
    )
    .await;

    // A request in flight at the moment of SIGTERM: headers and half the
    // body now, the rest only after the listener has closed.
    let body = r#"{"text": "Graceful Shutdown"}"#;
    let (first, rest) = body.split_at(body.len() / 2);
    let mut in_flight = TcpStream::connect(("127.0.0.1", service.port))
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/slugify HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{first}",
        body.len()
    );
    in_flight
        .write_all(head.as_bytes())
        .await
        .expect("send the first half");
    // Let the server read the headers before the signal arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    let stop = async {
        service.container.stop().await.expect("docker stop");
        started.elapsed()
    };
    let client = async {
        // Readiness must fail while requests are still served, so load
        // balancers stop routing here before the listener closes.
        let mut readiness_failed_after = None;
        while started.elapsed() < DELAY {
            let status = service.http.get(service.url("/readyz")).send().await;
            if status.is_ok_and(|r| r.status() == 503) {
                readiness_failed_after = Some(started.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Past the delay the listener is closed; the request must still finish.
        let past_delay = DELAY + Duration::from_millis(300);
        tokio::time::sleep(past_delay.saturating_sub(started.elapsed())).await;
        in_flight
            .write_all(rest.as_bytes())
            .await
            .expect("send the second half");
        let mut response = Vec::new();
        in_flight
            .read_to_end(&mut response)
            .await
            .expect("read the response");
        (
            readiness_failed_after,
            String::from_utf8_lossy(&response).into_owned(),
        )
    };
    let (stopped_after, (readiness_failed_after, response)) = tokio::join!(stop, client);

    assert!(
        readiness_failed_after.is_some(),
        "/readyz never answered 503 during the {DELAY:?} shutdown delay"
    );
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "in-flight request answered:\n{response}"
    );
    assert!(
        response.contains(r#""slug":"graceful-shutdown""#),
        "{response}"
    );
    let exit_code = service.container.exit_code().await.expect("docker inspect");
    assert_eq!(exit_code, Some(0), "{}", service.logs().await);
    // The contract bounds the exit by delay + timeout; exit code 0 (not
    // 137) already shows Docker did not have to kill it. The figure itself
    // belongs to the reliability stage, not to an assertion on a busy runner.
    let bound = target.patience(DELAY + TIMEOUT);
    assert!(
        stopped_after <= bound,
        "docker stop took {stopped_after:?}, more than SHUTDOWN_DELAY_SECONDS + SHUTDOWN_TIMEOUT_SECONDS ({bound:?})"
    );
    eprintln!("docker stop returned after {stopped_after:?} (SHUTDOWN_DELAY_SECONDS=1)");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "container-test: needs a Docker engine and the image from scripts/build-image.sh"]
async fn stdout_is_json_lines_with_request_fields() {
    let target = target().await;
    let service = spawn_service(&target, &[]).await;
    let request_id = "container-test-log-line";
    assert_eq!(service.slugify("Log me", request_id).await.status(), 200);
    // Stopping flushes every line and adds the shutdown messages.
    service.container.stop().await.expect("docker stop");
    let stdout = service
        .container
        .stdout_to_vec()
        .await
        .expect("docker logs");
    let stdout = String::from_utf8(stdout).expect("logs are UTF-8");

    let mut lines = Vec::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"));
        assert!(value["level"].is_string(), "no level: {line}");
        assert!(value["message"].is_string(), "no message: {line}");
        lines.push(value);
    }
    assert!(
        lines.len() >= 3,
        "expected start-up, access and shutdown lines:\n{stdout}"
    );
    let access = lines
        .iter()
        .find(|l| l["span"]["request_id"] == request_id)
        .unwrap_or_else(|| panic!("no line carries request_id {request_id}:\n{stdout}"));
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["span"]["method"], "POST");
    assert_eq!(access["span"]["route"], "/api/v1/slugify");
    assert_eq!(access["status"], 200);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "container-test: needs a Docker engine and the image from scripts/build-image.sh"]
async fn a_bad_variable_stops_the_container_with_a_message_naming_it() {
    let target = target().await;
    let container = start_container(&target, &[("PORT", "abc")], None).await;
    let code = wait_for_exit(&container, target.patience(Duration::from_secs(10))).await;
    let logs = container_logs(&container).await;
    assert_ne!(code, 0, "started with PORT=abc\n{logs}");
    assert!(
        logs.contains("PORT"),
        "the message does not name PORT:\n{logs}"
    );
}

#[test]
fn rust_architectures_map_to_docker_platform_names() {
    assert_eq!(docker_arch("x86_64"), "amd64");
    assert_eq!(docker_arch("aarch64"), "arm64");
    assert_eq!(docker_arch("riscv64"), "riscv64");
}

#[test]
fn image_references_split_into_name_and_tag() {
    assert_eq!(split_reference("payload:local"), ("payload", "local"));
    assert_eq!(
        split_reference("ghcr.io/o/payload:abc123"),
        ("ghcr.io/o/payload", "abc123")
    );
    assert_eq!(
        split_reference("localhost:5000/payload"),
        ("localhost:5000/payload", "latest")
    );
    assert_eq!(split_reference("payload"), ("payload", "latest"));
}
