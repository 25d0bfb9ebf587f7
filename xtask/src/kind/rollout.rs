//! `cargo xtask rollout-test`: proves that a new build rolls out with zero
//! failed requests. While `under-load` sends steady traffic through the
//! Service, `deploy-kind` rolls the Deployment to an image built from another
//! git SHA; every non-2xx answer and every transport error fails the test.
//! This is what the readiness probe, the shutdown delay, maxUnavailable 0 and
//! the grace period in k8s/ exist for, tested together on a real cluster.

use std::path::Path;

use super::{
    Cluster, ROLLED_BACK, SERVICE_ADDR, env_or, image_revision, one_image, require, same_commit,
    served_sha,
};
use crate::cli::Args;
use crate::{Result, fail, log, output_of, project_root, step_summary};

const HELP: &str = "cargo xtask rollout-test --help";

pub const USAGE: &str = "\
Usage: cargo xtask rollout-test [--expect-rollback] NEW_IMAGE

Needs the Deployment from `cargo xtask deploy-kind` running. NEW_IMAGE is a
local image built from a different git SHA than the running one, e.g.:
  GIT_SHA=$(git rev-parse HEAD~1) IMAGE=<service>:previous scripts/build-image.sh
  cargo xtask deploy-kind <service>:previous
  scripts/build-image.sh                      # <service>:local, from HEAD
  cargo xtask rollout-test <service>:local

Runs `cargo xtask deploy-kind NEW_IMAGE` under `cargo xtask under-load`
(steady POST /api/v1/slugify through the Service's NodePort on
127.0.0.1:30080, from a warm-up before the deploy until a cool-down after the
old pods are gone), which fails on any failed request. Then asserts that
/version reports the expected git SHA on every pod. The counts and the
rollout's duration are printed and appended to $GITHUB_STEP_SUMMARY when
that is set.

  --expect-rollback  NEW_IMAGE is broken (it never turns ready): deploy-kind
                     must roll it back (exit 4); assert that the old pods
                     served throughout, with zero failed requests, and still
                     report the old SHA

Environment:
  KIND_CLUSTER_NAME   cluster name (default: the service's name)
  LOAD_CONNECTIONS    concurrent keep-alive connections (default 8)
  LOAD_PAUSE_MS       pause between two requests on one connection (default
                      10), so the load is steady instead of saturating the
                      runner's CPUs
  ROLLOUT_TIMEOUT     how long the rollout may take (default 180s)

Needs docker, kind, kubectl and curl.
";

#[derive(Debug, PartialEq, Eq)]
struct Options {
    expect_rollback: bool,
    new_image: String,
}

fn parse(args: Vec<String>) -> Result<Option<Options>> {
    let mut args = Args::new(args, HELP);
    let (mut expect_rollback, mut new_image) = (false, None::<String>);
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--expect-rollback" => expect_rollback = true,
            flag if flag.starts_with('-') => return Err(args.unknown(flag)),
            _ => one_image(&mut new_image, arg)?,
        }
    }
    let Some(new_image) = new_image else {
        fail!("give the image to roll to, e.g. cargo xtask rollout-test my-service:local ({HELP})");
    };
    Ok(Some(Options {
        expect_rollback,
        new_image,
    }))
}

/// The `under-load` run of the deploy: `xtask` is this program, which runs
/// `deploy-kind`.
fn under_load_args(options: &Options, old_image: &str, new_sha: &str, xtask: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "--addr",
        SERVICE_ADDR,
        "--connections",
        &env_or("LOAD_CONNECTIONS", "8"),
        "--pause-ms",
        &env_or("LOAD_PAUSE_MS", "10"),
    ]
    .map(str::to_owned)
    .into();
    if options.expect_rollback {
        args.extend([
            "--expect-exit".to_owned(),
            ROLLED_BACK.to_string(),
            "--title".to_owned(),
            format!("Broken revision rolled back under load: {old_image} stays"),
        ]);
    } else {
        args.extend([
            "--title".to_owned(),
            format!("Rolling update under load: {old_image} -> {new_sha}"),
        ]);
    }
    args.extend([
        "--".to_owned(),
        xtask.display().to_string(),
        "deploy-kind".to_owned(),
        options.new_image.clone(),
    ]);
    args
}

/// After a rollback every old pod must still run: the old `ReplicaSet` served
/// throughout.
fn old_pods_verdict(remaining: usize, old: usize) -> Result<()> {
    if remaining != old {
        fail!(
            "only {remaining} of the {old} old pods still run: the old ReplicaSet did not serve throughout"
        );
    }
    Ok(())
}

fn served_verdict(served: Option<&str>, expected: &str) -> Result<()> {
    match served {
        Some(sha) if same_commit(sha, expected) => Ok(()),
        Some(sha) => fail!("/version answered git_sha '{sha}', expected {expected}"),
        None => fail!(
            "/version did not answer through the Service (http://{SERVICE_ADDR}), expected git_sha {expected}"
        ),
    }
}

pub fn run(args: Vec<String>) -> Result<()> {
    let Some(options) = parse(args)? else {
        print!("{USAGE}");
        return Ok(());
    };
    let root = project_root()?;
    let cluster = Cluster::from_env(&root)?;
    for tool in ["kubectl", "docker", "curl"] {
        require(tool)?;
    }
    let deployment = cluster.deployment();
    if output_of(
        cluster
            .kubectl()
            .args(["rollout", "status", &deployment, "--timeout=60s"]),
    )
    .is_err()
    {
        fail!(
            "{deployment} in namespace {} of context {} is missing or not available; deploy the first image with cargo xtask deploy-kind",
            cluster.app,
            cluster.context
        );
    }
    let old_image = output_of(cluster.kubectl().args([
        "get",
        &deployment,
        "-o",
        &format!(
            "jsonpath={{.spec.template.spec.containers[?(@.name==\"{}\")].image}}",
            cluster.app
        ),
    ]))?;
    let old_image = old_image.trim();
    let old_sha = old_image.rsplit(':').next().unwrap_or_default();
    let new_sha = image_revision(&options.new_image)?;
    if same_commit(&new_sha, old_sha) {
        fail!(
            "{} ({new_sha}) is what already runs; roll to an image built from another git SHA ({HELP})",
            options.new_image
        );
    }
    let old_pods = output_of(cluster.kubectl().args([
        "get",
        "pods",
        "-l",
        &cluster.selector(),
        "-o",
        "name",
    ]))?;
    let old_pods: Vec<&str> = old_pods.lines().filter(|l| !l.is_empty()).collect();

    let xtask = std::env::current_exe()
        .map_err(|e| crate::Error(format!("cannot find this program: {e}")))?;
    crate::under_load::run(under_load_args(&options, old_image, &new_sha, &xtask))?;
    let expected = if options.expect_rollback {
        let left = output_of(cluster.kubectl().arg("get").args(&old_pods).args([
            "--ignore-not-found",
            "-o",
            "name",
        ]))?;
        old_pods_verdict(
            left.lines().filter(|l| !l.is_empty()).count(),
            old_pods.len(),
        )?;
        old_sha.to_owned()
    } else {
        new_sha
    };
    // Every pod answers with the expected build: each request may land on
    // another pod.
    for _ in 0..10 {
        served_verdict(served_sha().as_deref(), &expected)?;
    }
    let verdict = format!("/version reports {expected} on every answer\n");
    print!("{verdict}");
    step_summary(&verdict);
    log("rollout test passed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::owned;

    #[test]
    fn it_takes_one_image_and_an_optional_rollback() {
        assert_eq!(
            parse(owned(&["--expect-rollback", "svc:broken"])),
            Ok(Some(Options {
                expect_rollback: true,
                new_image: "svc:broken".to_owned()
            }))
        );
        assert_eq!(parse(owned(&["-h"])), Ok(None));
        for (args, error) in [
            (&[][..], "give the image to roll to"),
            (&["a:1", "b:2"], "one image only; got 'a:1' and 'b:2'"),
            (&["--rollback", "a:1"], "unknown argument '--rollback'"),
        ] {
            let err = parse(owned(args)).expect_err("refused").0;
            assert!(err.contains(error), "{args:?}: {err}");
        }
    }

    #[test]
    fn the_deploy_runs_under_load_through_the_service() {
        let roll = Options {
            expect_rollback: false,
            new_image: "new:image".to_owned(),
        };
        let xtask = Path::new("/x/xtask");
        let args = under_load_args(&roll, "svc:1111", "2222", xtask).join(" ");
        assert!(
            args.starts_with("--addr 127.0.0.1:30080 --connections ")
                && args.contains("--title Rolling update under load: svc:1111 -> 2222")
                && args.ends_with("-- /x/xtask deploy-kind new:image")
                && !args.contains("--expect-exit"),
            "{args}"
        );
        let broken = Options {
            expect_rollback: true,
            ..roll
        };
        let args = under_load_args(&broken, "svc:1111", "2222", xtask).join(" ");
        assert!(
            args.contains(
                "--expect-exit 4 --title Broken revision rolled back under load: svc:1111 stays"
            ) && args.ends_with("-- /x/xtask deploy-kind new:image"),
            "the broken revision must be rolled back (exit 4): {args}"
        );
    }

    #[test]
    fn what_serves_after_must_be_the_expected_build() {
        let new = "2222222222222222222222222222222222222222";
        assert_eq!(served_verdict(Some(new), new), Ok(()));
        assert_eq!(served_verdict(Some("2222222"), new), Ok(()));
        let old = served_verdict(Some("1111111"), new)
            .expect_err("an old build")
            .0;
        assert!(
            old.contains(&format!("answered git_sha '1111111', expected {new}")),
            "{old}"
        );
        assert!(
            served_verdict(None, new).is_err(),
            "no answer is no verdict"
        );
    }

    #[test]
    fn a_rollback_must_leave_every_old_pod() {
        assert_eq!(old_pods_verdict(2, 2), Ok(()));
        let err = old_pods_verdict(1, 2).expect_err("a pod went").0;
        assert!(err.contains("only 1 of the 2 old pods still run"), "{err}");
    }
}
