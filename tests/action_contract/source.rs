//! Where the contracts come from: the metadata folder (each action's files
//! at its pinned commit) when there is one, else the committed lock.

use std::fs;
use std::path::{Path, PathBuf};

use super::contract::{ActionContract, ToolManifest};
use super::lock::{self, Lock};
use super::pinned::Pinned;

/// Overrides the metadata folder's location.
pub(crate) const METADATA_DIR_VAR: &str = "ACTION_METADATA_DIR";
/// The default location, relative to the repository root.
const DEFAULT_METADATA_DIR: &str = "../shared/actions";

#[derive(Debug)]
pub(crate) enum Source {
    /// `<owner>/<repo>@<sha>/<path>/action.yml`, and install-action's
    /// `manifests/<tool>.json` beside its action.yml.
    Folder(PathBuf),
    Lock(Lock),
}

impl Source {
    /// The metadata folder for the repository at `root`: `$ACTION_METADATA_DIR`
    /// (which must exist), else `../shared/actions` if it exists.
    pub(crate) fn metadata_dir(root: &Path) -> Result<Option<PathBuf>, String> {
        if let Some(dir) = std::env::var_os(METADATA_DIR_VAR) {
            let dir = PathBuf::from(dir);
            return if dir.is_dir() {
                Ok(Some(dir))
            } else {
                Err(format!(
                    "{METADATA_DIR_VAR}={} is not a directory: point it at a folder laid out as \
                     <owner>/<repo>@<sha>/<path>/action.yml, or unset it",
                    dir.display()
                ))
            };
        }
        let dir = root.join(DEFAULT_METADATA_DIR);
        Ok(dir.is_dir().then_some(dir))
    }

    /// The metadata folder if there is one, else the lock committed at `root`.
    pub(crate) fn for_repo(root: &Path) -> Result<Self, String> {
        match Self::metadata_dir(root)? {
            Some(dir) => Ok(Self::Folder(dir)),
            None => Lock::read(root).map(Self::Lock),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Folder(dir) => format!("the metadata folder {}", dir.display()),
            Self::Lock(_) => format!(
                "{} (no metadata folder at {DEFAULT_METADATA_DIR} or ${METADATA_DIR_VAR})",
                lock::LOCK_PATH
            ),
        }
    }

    /// The contract of `action`; `Err` says what is missing and how to add it.
    pub(crate) fn action(&self, action: &Pinned) -> Result<ActionContract, String> {
        match self {
            Self::Folder(dir) => read_action(&dir.join(action.folder())).map_err(|why| {
                format!(
                    "{why}: add the action's action.yml (or action.yaml) from commit {} as {}",
                    action.git_ref,
                    dir.join(action.folder()).join("action.yml").display()
                )
            }),
            Self::Lock(lock) => lock
                .actions
                .get(&action.to_string())
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "{} has no entry for `{action}`: {}",
                        lock::LOCK_PATH,
                        lock::REFRESH
                    )
                }),
        }
    }

    /// What `installer` (install-action at a commit) can install of `tool`:
    /// `Ok(None)` when it has no manifest for it.
    pub(crate) fn tool(
        &self,
        installer: &Pinned,
        tool: &str,
    ) -> Result<Option<ToolManifest>, String> {
        match self {
            Self::Folder(dir) => {
                let manifests = dir.join(installer.folder()).join("manifests");
                if !manifests.is_dir() {
                    return Err(format!(
                        "no manifests for `{installer}`: add its manifests/*.json from commit {} to {}",
                        installer.git_ref,
                        manifests.display()
                    ));
                }
                let path = manifests.join(format!("{tool}.json"));
                let Ok(text) = fs::read_to_string(&path) else {
                    return Ok(None);
                };
                ToolManifest::parse(&text).map(Some).map_err(|why| {
                    format!(
                        "{}: {why}; replace it with the file from commit {}",
                        path.display(),
                        installer.git_ref
                    )
                })
            }
            Self::Lock(lock) => lock
                .tools
                .get(&installer.to_string())
                .and_then(|tools| tools.get(tool))
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "{} has no entry for `{tool}` under `{installer}`: {}",
                        lock::LOCK_PATH,
                        lock::REFRESH
                    )
                }),
        }
    }
}

/// The contract in `dir/action.yml` or `dir/action.yaml` (a local action's
/// folder, or one of the metadata folder's).
pub(crate) fn read_action(dir: &Path) -> Result<ActionContract, String> {
    let path = ["action.yml", "action.yaml"]
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| format!("no action.yml or action.yaml in {}", dir.display()))?;
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    ActionContract::parse(&text).map_err(|why| format!("{}: {why}", path.display()))
}
