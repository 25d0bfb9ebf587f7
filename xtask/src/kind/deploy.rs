//! `cargo xtask deploy-kind`: runs the image on a real Kubernetes cluster
//! (kind: nodes are Docker containers) with the manifests users copy to
//! production, so a manifest the API server, Pod Security admission or the
//! kubelet would refuse fails here, not in someone's cluster. A revision that
//! fails after it was applied is rolled back.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{
    Cluster, ROLLED_BACK, SERVICE_ADDR, image_revision, one_image, require, same_commit, served_sha,
};
use crate::cli::Args;
use crate::{Result, fail, last_lines, log, output_of, project_root, run_shown, warn};

const HELP: &str = "cargo xtask deploy-kind --help";

pub const USAGE: &str = "\
Usage: cargo xtask deploy-kind [IMAGE]
       cargo xtask deploy-kind --load-only IMAGE
       cargo xtask deploy-kind --delete

Deploys IMAGE (default $IMAGE, else <service>:local; build it with
scripts/build-image.sh) to the kind cluster, creating the cluster first if
it does not exist:
  1. kind create cluster --config k8s/overlays/kind/kind-config.yaml
  2. tag the image by its git SHA (label org.opencontainers.image.revision)
     and load it into the nodes (docker save + kind load image-archive)
  3. kubectl apply the k8s/overlays/kind overlay with that tag
  4. wait for the rollout, then smoke-test /readyz and /version through the
     Service (NodePort published on 127.0.0.1:30080), then wait (60 s at
     most) until the pods it replaced have finished their shutdown
  5. if 4 fails (never ready, crash loop, smoke test): print the failing
     pods' events and logs, `kubectl rollout undo`, wait until the previous
     revision is fully available again, and exit 4 (exit 1 when there is no
     previous revision, or the rollback fails too)

  --load-only IMAGE  only step 2, on an existing cluster; prints the image
                     reference to deploy
  --delete           delete the cluster
  -h, --help         this help

Environment:
  KIND_CLUSTER_NAME   cluster name (default: the service's name)
  ROLLOUT_TIMEOUT     how long to wait for the rollout (default 180s)
  SMOKE_TEST_SECONDS  how long the smoke test retries (default 30)

Needs docker (with a running engine), kind v0.33 (the node image in
kind-config.yaml is built for it), kubectl and curl.
";

/// The kind release the pinned node image was built for.
const KIND_RELEASE: &str = "v0.33";
const KIND_CONFIG: &str = "k8s/overlays/kind/kind-config.yaml";
const OVERLAY: &str = "k8s/overlays/kind";

#[derive(Debug, PartialEq, Eq)]
enum Mode {
    Deploy(Option<String>),
    LoadOnly(String),
    Delete,
}

fn parse(args: Vec<String>) -> Result<Option<Mode>> {
    let mut args = Args::new(args, HELP);
    let (mut load_only, mut delete, mut image) = (false, false, None);
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--load-only" => load_only = true,
            "--delete" => delete = true,
            flag if flag.starts_with('-') => return Err(args.unknown(flag)),
            _ => one_image(&mut image, arg)?,
        }
    }
    Ok(Some(match (delete, load_only, image) {
        (true, false, None) => Mode::Delete,
        (true, _, _) => fail!("--delete takes no image and no --load-only"),
        (false, true, Some(image)) => Mode::LoadOnly(image),
        (false, true, None) => {
            fail!("--load-only needs the image to load, e.g. --load-only my-service:local")
        }
        (false, false, image) => Mode::Deploy(image),
    }))
}

/// Runs the command; false when it fails or cannot start (it says why).
fn succeeds(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `succeeds`, without its output.
fn succeeds_quietly(command: &mut Command) -> bool {
    succeeds(command.stdout(Stdio::null()).stderr(Stdio::null()))
}

/// Runs `deploy-kind`: its exit status (0, or [`ROLLED_BACK`] after a
/// rollback), or an error.
pub fn run(args: Vec<String>) -> Result<u8> {
    let Some(mode) = parse(args)? else {
        print!("{USAGE}");
        return Ok(0);
    };
    let root = project_root()?;
    let cluster = Cluster::from_env(&root)?;
    require_tools(&mode)?;
    match mode {
        Mode::Delete => {
            log(&format!("deleting kind cluster '{}'", cluster.name));
            run_shown(
                Command::new("kind").args(["delete", "cluster", "--name", &cluster.name]),
                &format!("kind delete cluster --name {}", cluster.name),
            )?;
            Ok(0)
        }
        Mode::LoadOnly(image) => {
            if !cluster_exists(&cluster) {
                fail!(
                    "kind cluster '{}' does not exist; create it and deploy first with cargo xtask deploy-kind",
                    cluster.name
                );
            }
            println!("{}", load_image(&cluster, &root, &image)?);
            Ok(0)
        }
        Mode::Deploy(image) => {
            let image = image
                .or_else(|| crate::env_value("IMAGE"))
                .unwrap_or_else(|| format!("{}:local", cluster.app));
            deploy(&cluster, &root, &image)
        }
    }
}

fn require_tools(mode: &Mode) -> Result<()> {
    require("kind")?;
    if *mode != Mode::Delete {
        require("kubectl")?;
        require("curl")?;
    }
    require("docker")?;
    if !succeeds_quietly(Command::new("docker").arg("info")) {
        fail!(
            "no Docker engine answers ('docker info' failed); kind runs its nodes as containers. Start Docker and retry."
        );
    }
    let version = output_of(Command::new("kind").arg("version")).unwrap_or_default();
    let version = version.split_whitespace().nth(1).unwrap_or("(unknown)");
    if !version.starts_with(&format!("{KIND_RELEASE}.")) {
        warn(&format!(
            "kind {version} found; the node image in {KIND_CONFIG} is built for kind {KIND_RELEASE} (kind's release notes say to use a node image built for the same release)"
        ));
    }
    Ok(())
}

fn deploy(cluster: &Cluster, root: &Path, image: &str) -> Result<u8> {
    ensure_cluster(cluster, root)?;
    let reference = load_image(cluster, root, image)?;
    apply(cluster, root, &reference)?;
    let revision = reference.rsplit(':').next().unwrap_or_default();
    if let Err(reason) = wait_for_rollout(cluster).and_then(|()| smoke_test(revision)) {
        return roll_back(cluster, &reason);
    }
    wait_for_replaced_pods(cluster)?;
    log(&format!(
        "{reference} runs in kind cluster '{}' (context {}, namespace {}): http://{SERVICE_ADDR}",
        cluster.name, cluster.context, cluster.app
    ));
    Ok(0)
}

fn cluster_exists(cluster: &Cluster) -> bool {
    output_of(Command::new("kind").args(["get", "clusters"]))
        .is_ok_and(|clusters| clusters.lines().any(|c| c.trim() == cluster.name))
}

fn ensure_cluster(cluster: &Cluster, root: &Path) -> Result<()> {
    if cluster_exists(cluster) {
        log(&format!("kind cluster '{}' exists", cluster.name));
        // A cluster made under another KUBECONFIG has no context in this one.
        let has_context = succeeds_quietly(Command::new("kubectl").args([
            "config",
            "get-contexts",
            &cluster.context,
        ]));
        if !has_context {
            run_shown(
                Command::new("kind").args(["export", "kubeconfig", "--name", &cluster.name]),
                &format!("kind export kubeconfig --name {}", cluster.name),
            )?;
        }
        return Ok(());
    }
    // kind-config.yaml publishes the Service on a fixed host port: a process
    // already listening there would make the cluster fail half-created.
    let addr: SocketAddr = SERVICE_ADDR.parse().expect("SERVICE_ADDR is an address");
    if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
        fail!(
            "port {port} on 127.0.0.1 is in use, and the kind cluster publishes its Service there (hostPort in {KIND_CONFIG}): stop what listens on it (ss -ltnp 'sport = :{port}'), or change the hostPort there and SERVICE_ADDR in xtask/src/kind/mod.rs together",
            port = addr.port()
        );
    }
    log(&format!(
        "creating kind cluster '{}' from {KIND_CONFIG}",
        cluster.name
    ));
    let config = root.join(KIND_CONFIG);
    let created = succeeds(
        Command::new("kind")
            .args([
                "create",
                "cluster",
                "--name",
                &cluster.name,
                "--wait",
                "120s",
                "--config",
            ])
            .arg(config),
    );
    if !created {
        fail!(
            "kind create cluster failed (see above); `cargo xtask deploy-kind --delete` removes a half-created one"
        );
    }
    Ok(())
}

/// Loads `source` into the nodes under a tag per git SHA and returns that
/// reference. The tag makes every build a new pod template (so applying it
/// rolls the Deployment) and names the source of what runs.
fn load_image(cluster: &Cluster, root: &Path, source: &str) -> Result<String> {
    let revision = image_revision(source)?;
    let repository = source.split('@').next().unwrap_or(source);
    let repository = match repository.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => repository,
    };
    let reference = format!("{repository}:{revision}");
    output_of(Command::new("docker").args(["tag", source, &reference]))?;

    let arch = output_of(Command::new("docker").args(["info", "--format", "{{.Architecture}}"]))?;
    let platform = match arch.trim() {
        "x86_64" | "amd64" => "linux/amd64",
        "aarch64" | "arm64" => "linux/arm64",
        other => {
            fail!("kind node images exist for amd64 and arm64 only; this Docker runs on {other}")
        }
    };
    let archive = crate::target_dir(root).join("kind-image.tar");
    let mut save = Command::new("docker");
    save.args(["save", "--output"]).arg(&archive);
    // With Docker's containerd image store an image can hold several
    // platforms, and `kind load docker-image` of such an image fails
    // ("content digest ... not found", kind issue #3795). Saving only the
    // nodes' platform and loading the archive is the documented way around
    // it. The classic store holds one platform per image (and older CLIs
    // there have no --platform).
    let driver =
        output_of(Command::new("docker").args(["info", "--format", "{{json .DriverStatus}}"]))?;
    if driver.contains("io.containerd.snapshotter") {
        let save_help =
            output_of(Command::new("docker").args(["save", "--help"])).unwrap_or_default();
        if !save_help.contains("--platform") {
            fail!(
                "Docker uses the containerd image store but this docker CLI cannot 'save --platform'; upgrade Docker to 28 or later"
            );
        }
        save.args(["--platform", platform]);
    }
    log(&format!(
        "loading {reference} ({platform}) into the nodes of '{}'",
        cluster.name
    ));
    std::fs::create_dir_all(crate::target_dir(root))
        .map_err(|e| crate::Error(format!("cannot create the target directory: {e}")))?;
    let loaded = succeeds(save.arg(&reference))
        && succeeds(
            Command::new("kind")
                .args(["load", "image-archive"])
                .arg(&archive)
                .args(["--name", &cluster.name])
                .stdout(std::io::stderr()),
        );
    // Gone either way: it is as large as the image.
    let _ = std::fs::remove_file(&archive);
    if !loaded {
        fail!(
            "could not load {reference} into kind cluster '{}' (see above)",
            cluster.name
        );
    }
    Ok(reference)
}

/// Applies the kind overlay with the image set to `reference`, through a
/// throw-away kustomization, so the repository's files never change.
fn apply(cluster: &Cluster, root: &Path, reference: &str) -> Result<()> {
    let (name, tag) = reference.rsplit_once(':').expect("a reference with a tag");
    // kustomize accepts only relative paths to other kustomizations, so the
    // directory sits at a known depth in the repository.
    let dir = root
        .join("target")
        .join(format!("kind-deploy.{}", std::process::id()));
    let kustomization = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../{OVERLAY}\nimages:\n  - name: {app}\n    newName: {name}\n    newTag: {tag}\n",
        app = cluster.app
    );
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("kustomization.yaml"), kustomization))
        .map_err(|e| crate::Error(format!("cannot write {}: {e}", dir.display())))?;
    log(&format!("applying {OVERLAY} with image {reference}"));
    let applied = succeeds(
        Command::new("kubectl")
            .args(["--context", &cluster.context, "apply", "-k"])
            .arg(&dir),
    );
    let _ = std::fs::remove_dir_all(&dir);
    if !applied {
        fail!(
            "kubectl apply of the kind overlay failed (see above); check it with 'kubectl kustomize {OVERLAY}'"
        );
    }
    Ok(())
}

/// Ok when the new revision became available; else why it must be undone.
fn wait_for_rollout(cluster: &Cluster) -> std::result::Result<(), String> {
    let deployment = cluster.deployment();
    log(&format!(
        "waiting up to {} for {deployment}",
        cluster.rollout_timeout
    ));
    if rollout_status(cluster) {
        Ok(())
    } else {
        Err(format!(
            "{deployment} did not become available within {} (its progressDeadlineSeconds or the timeout passed)",
            cluster.rollout_timeout
        ))
    }
}

fn rollout_status(cluster: &Cluster) -> bool {
    let timeout = format!("--timeout={}", cluster.rollout_timeout);
    succeeds(
        cluster
            .kubectl()
            .args(["rollout", "status", &cluster.deployment(), &timeout]),
    )
}

/// /readyz and /version answer through the Service, and /version reports the
/// deployed `revision`; else why the revision must be undone. Retried:
/// kube-proxy may lag a second behind the rollout and still route a request
/// to a pod on its way out.
fn smoke_test(revision: &str) -> std::result::Result<(), String> {
    let seconds: u64 = std::env::var("SMOKE_TEST_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&s| s > 0)
        .unwrap_or(30);
    let readyz = format!("http://{SERVICE_ADDR}/readyz");
    let mut served = None;
    for attempt in 0..seconds {
        if attempt > 0 {
            std::thread::sleep(Duration::from_secs(1));
        }
        if !succeeds_quietly(Command::new("curl").args(["-fsS", "--max-time", "2", &readyz])) {
            continue;
        }
        let sha = served_sha().unwrap_or_default();
        if same_commit(revision, &sha) {
            log(&format!(
                "smoke test passed: /readyz 200, /version git_sha {sha}"
            ));
            return Ok(());
        }
        served = Some(sha);
    }
    Err(match served {
        None => format!(
            "http://{SERVICE_ADDR}/readyz did not answer 200 within {seconds} s. Is its port mapped? A cluster created without {KIND_CONFIG} is not: run cargo xtask deploy-kind --delete, then deploy again"
        ),
        Some(sha) => format!(
            "/version still reports git_sha '{sha}' after {seconds} s, expected the deployed {revision}"
        ),
    })
}

/// Undoes a revision that failed after it was applied: [`ROLLED_BACK`] once
/// the previous revision is fully available again, an error when there is
/// none or it does not come back. maxUnavailable 0 kept the old pods serving
/// while the new ones failed, so the undo only retires those.
fn roll_back(cluster: &Cluster, reason: &str) -> Result<u8> {
    diagnose(cluster);
    let deployment = cluster.deployment();
    let history = format!("kubectl -n {} rollout history {deployment}", cluster.app);
    let revision = output_of(cluster.kubectl().args([
        "get",
        &deployment,
        "-o",
        r"jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision}",
    ]))
    .ok()
    .and_then(|r| r.trim().parse::<u32>().ok())
    .unwrap_or(0);
    if revision < 2 {
        fail!(
            "{reason}. This is the Deployment's first revision, so there is nothing to roll back to: fix the cause shown above and deploy again"
        );
    }
    log(&format!(
        "rolling back {deployment} from revision {revision}: {reason}"
    ));
    if !succeeds(cluster.kubectl().args(["rollout", "undo", &deployment])) {
        fail!(
            "{reason}, and 'kubectl rollout undo {deployment}' failed (see above): roll back by hand ({history})"
        );
    }
    if !rollout_status(cluster) {
        diagnose(cluster);
        fail!(
            "{reason}, and the previous revision did not become available again within {}: the cluster needs a person ({history})",
            cluster.rollout_timeout
        );
    }
    eprintln!(
        "error: {reason}. Rolled back: the previous revision serves again (the failed revision's pods and events are above)."
    );
    Ok(ROLLED_BACK)
}

/// What a failed rollout needs to be understood, on stderr.
fn diagnose(cluster: &Cluster) {
    let on_stderr = |args: &[&str]| {
        succeeds(cluster.kubectl().args(args).stdout(std::io::stderr()));
    };
    eprintln!(
        "\n--- deployment, pods and recent events in namespace {} ---",
        cluster.app
    );
    on_stderr(&["get", "deployment,replicaset,pods", "-o", "wide"]);
    on_stderr(&["describe", "pods"]);
    if let Ok(events) =
        output_of(
            cluster
                .kubectl()
                .args(["get", "events", "--sort-by=.lastTimestamp"]),
        )
    {
        eprintln!("{}", last_lines(&events, 30));
    }
    eprintln!("\n--- logs (last 20 lines per pod) ---");
    on_stderr(&[
        "logs",
        "-l",
        &cluster.selector(),
        "--all-containers",
        "--prefix",
        "--tail=20",
    ]);
}

/// `rollout status` returns when the new pods are available and the old ones
/// are terminating, maybe still in their shutdown delay, serving. Their end
/// is part of the deploy (and of what the rollout test counts).
fn wait_for_replaced_pods(cluster: &Cluster) -> Result<()> {
    let terminating = output_of(cluster.kubectl().args([
        "get",
        "pods",
        "-l",
        &cluster.selector(),
        "-o",
        r#"go-template={{range .items}}{{if .metadata.deletionTimestamp}}pod/{{.metadata.name}}{{"\n"}}{{end}}{{end}}"#,
    ]))?;
    let replaced: Vec<&str> = terminating.lines().filter(|l| !l.is_empty()).collect();
    if replaced.is_empty()
        || succeeds_quietly(
            cluster
                .kubectl()
                .arg("wait")
                .arg("--for=delete")
                .args(&replaced)
                .arg("--timeout=60s"),
        )
    {
        return Ok(());
    }
    // A pod deleted before the wait looked counts as "not found" there.
    let left = output_of(cluster.kubectl().arg("get").args(&replaced).args([
        "--ignore-not-found",
        "-o",
        "name",
    ]))?;
    if !left.trim().is_empty() {
        fail!(
            "the replaced pods {} still exist 60 s after the rollout (kubectl -n {} get pods)",
            replaced.join(" "),
            cluster.app
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::owned;

    #[test]
    fn the_modes_and_what_each_refuses() {
        assert_eq!(parse(owned(&[])), Ok(Some(Mode::Deploy(None))));
        assert_eq!(
            parse(owned(&["svc:1"])),
            Ok(Some(Mode::Deploy(Some("svc:1".to_owned()))))
        );
        assert_eq!(
            parse(owned(&["--load-only", "svc:1"])),
            Ok(Some(Mode::LoadOnly("svc:1".to_owned())))
        );
        assert_eq!(parse(owned(&["--delete"])), Ok(Some(Mode::Delete)));
        assert_eq!(parse(owned(&["--help"])), Ok(None));
        for (args, error) in [
            (&["a:1", "b:2"][..], "one image only; got 'a:1' and 'b:2'"),
            (&["--load-only"], "--load-only needs the image"),
            (&["--delete", "a:1"], "--delete takes no image"),
            (&["--force"], "unknown argument '--force'"),
        ] {
            let err = parse(owned(args)).expect_err("refused").0;
            assert!(err.contains(error), "{args:?}: {err}");
        }
    }
}
