//! The kind cluster of the deploy stage: `cargo xtask deploy-kind` runs the
//! image there with the manifests users copy to production, and `cargo xtask
//! rollout-test` proves that rolling it drops no request. One definition of
//! the cluster for both.

pub mod deploy;
pub mod rollout;

use std::path::Path;
use std::process::Command;

use crate::bench::system::require_tool;
use crate::{Result, fail, manifest};

/// The Service's `NodePort` as kind-config.yaml publishes it on the host. Not
/// `kubectl port-forward`: that tunnels to one pod and breaks when it goes.
pub const SERVICE_ADDR: &str = "127.0.0.1:30080";

/// deploy-kind's exit status when a deploy failed and was rolled back (the
/// cluster serves the previous revision again), which `rollout-test
/// --expect-rollback` tells from any other failure.
pub const ROLLED_BACK: u8 = 4;

/// The label the image build writes the git SHA into.
const REVISION_LABEL: &str = "org.opencontainers.image.revision";

/// Where the deploy runs: the Deployment, Service and namespace are named
/// after the crate (the rename renames them together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub app: String,
    pub name: String,
    pub context: String,
    /// How long `kubectl rollout status` waits, e.g. `180s`.
    pub rollout_timeout: String,
}

impl Cluster {
    /// The cluster for the service at `root`: `KIND_CLUSTER_NAME` (default:
    /// the service's name) and `ROLLOUT_TIMEOUT` (default 180s).
    pub fn from_env(root: &Path) -> Result<Self> {
        let app = manifest::service_name(root)?;
        let name = env_or("KIND_CLUSTER_NAME", &app);
        Ok(Self {
            context: format!("kind-{name}"),
            rollout_timeout: env_or("ROLLOUT_TIMEOUT", "180s"),
            name,
            app,
        })
    }

    /// `kubectl` on the cluster's context and the service's namespace.
    pub fn kubectl(&self) -> Command {
        let mut command = Command::new("kubectl");
        command.args(["--context", &self.context, "-n", &self.app]);
        command
    }

    /// `deployment/<app>`.
    pub fn deployment(&self) -> String {
        format!("deployment/{}", self.app)
    }

    /// The pods' label selector.
    pub fn selector(&self) -> String {
        format!("app.kubernetes.io/name={}", self.app)
    }
}

/// The environment variable `name` when set and not empty, else `default`.
fn env_or(name: &str, default: &str) -> String {
    crate::env_value(name).unwrap_or_else(|| default.to_owned())
}

/// `tool` is on PATH, or an error saying how to install it.
fn require(tool: &str) -> Result<()> {
    let hint = match tool {
        "kind" => {
            "Install kind v0.33: https://kind.sigs.k8s.io/docs/user/quick-start/#installation (in CI: helm/kind-action)."
        }
        "kubectl" => "Install kubectl: https://kubernetes.io/docs/tasks/tools/",
        "docker" => {
            "Install Docker: https://docs.docker.com/engine/install/ (Debian: apt-get install docker.io)."
        }
        "curl" => "Install curl (Debian/Ubuntu: apt-get install curl).",
        _ => "Install it.",
    };
    require_tool(tool, hint).map(drop)
}

/// The git SHA in `image`'s revision label, or an error saying how to build
/// one that has it.
fn image_revision(image: &str) -> Result<String> {
    let format = format!("{{{{index .Config.Labels \"{REVISION_LABEL}\"}}}}");
    let Ok(revision) = crate::output_of(
        Command::new("docker").args(["image", "inspect", "--format", &format, image]),
    ) else {
        fail!(
            "image '{image}' is not in the local Docker engine; build it with scripts/build-image.sh (IMAGE={image})"
        );
    };
    let revision = revision.trim();
    if !(7..=40).contains(&revision.len())
        || !revision
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        fail!(
            "image '{image}' has no git SHA in its {REVISION_LABEL} label (found '{revision}'); build it with scripts/build-image.sh inside a git checkout, or set GIT_SHA"
        );
    }
    Ok(revision.to_owned())
}

/// Takes the command's one image argument; a second is refused.
fn one_image(image: &mut Option<String>, arg: String) -> Result<()> {
    if let Some(first) = image {
        fail!("one image only; got '{first}' and '{arg}'");
    }
    *image = Some(arg);
    Ok(())
}

/// One SHA is a prefix of the other: a short and a full SHA of one commit.
fn same_commit(a: &str, b: &str) -> bool {
    !a.is_empty() && !b.is_empty() && (a.starts_with(b) || b.starts_with(a))
}

/// The `git_sha` of a `/version` body through the Service, or None when it
/// does not answer 200 with one (curl, so a test can stand in for it).
fn served_sha() -> Option<String> {
    let url = format!("http://{SERVICE_ADDR}/version");
    let body =
        crate::output_of(Command::new("curl").args(["-fsS", "--max-time", "2", &url])).ok()?;
    git_sha_of(&body)
}

fn git_sha_of(version_body: &str) -> Option<String> {
    let version: serde_json::Value = serde_json::from_str(version_body).ok()?;
    version["git_sha"]
        .as_str()
        .filter(|sha| !sha.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_and_a_full_sha_of_one_commit_are_the_same_commit() {
        let full = "0123456789abcdef0123456789abcdef01234567";
        assert!(same_commit("0123456", full));
        assert!(same_commit(full, "0123456"));
        assert!(same_commit(full, full));
        assert!(!same_commit("1123456", full));
        assert!(!same_commit("", full), "no SHA is no commit");
    }

    #[test]
    fn the_served_sha_is_the_version_documents_git_sha() {
        assert_eq!(
            git_sha_of(r#"{"version":"0.1.0","git_sha":"abc1234"}"#).as_deref(),
            Some("abc1234")
        );
        assert_eq!(git_sha_of(r#"{"git_sha":""}"#), None);
        assert_eq!(git_sha_of(r#"{"version":"0.1.0"}"#), None);
        assert_eq!(git_sha_of("<html>bad gateway</html>"), None);
    }
}
