//! The action a step's `uses:` names, as `owner/repo[/path]@ref`.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pinned {
    /// `owner/repo` or `owner/repo/path`.
    pub(crate) action: String,
    pub(crate) git_ref: String,
}

impl Pinned {
    /// `None` for what has no action.yml in another repository: a local
    /// action (`./path`) and a container image (`docker://…`).
    pub(crate) fn parse(uses: &str) -> Option<Self> {
        if uses.starts_with("./") || uses.starts_with("docker://") {
            return None;
        }
        let (action, git_ref) = uses.split_once('@').unwrap_or((uses, ""));
        Some(Self {
            action: action.to_owned(),
            git_ref: git_ref.to_owned(),
        })
    }

    /// `owner/repo`, without the path of a sub-action.
    pub(crate) fn repository(&self) -> String {
        crate::action_repository(&self.action)
    }

    /// Where the metadata folder keeps this action's files:
    /// `<owner>/<repo>@<ref>/<path>`.
    pub(crate) fn folder(&self) -> PathBuf {
        let repository = self.repository();
        let mut folder = PathBuf::from(format!("{repository}@{}", self.git_ref));
        if let Some(path) = self.action.get(repository.len() + 1..) {
            folder.push(path);
        }
        folder
    }
}

impl fmt::Display for Pinned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.action, self.git_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sub_action_lives_below_its_repository_at_the_commit() {
        let pinned = Pinned::parse("github/codeql-action/upload-sarif@abc").expect("an action");
        assert_eq!(pinned.repository(), "github/codeql-action");
        assert_eq!(
            pinned.folder(),
            PathBuf::from("github/codeql-action@abc/upload-sarif")
        );
        assert_eq!(
            Pinned::parse("actions/checkout@abc").map(|p| p.folder()),
            Some(PathBuf::from("actions/checkout@abc"))
        );
        assert_eq!(Pinned::parse("./local"), None);
    }
}
