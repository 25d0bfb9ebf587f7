//! A version's release notes: its section of CHANGELOG.md (Keep a Changelog
//! form), without the heading. The release publishes them as the GitHub
//! release's body, so what users read there is what the changelog says.

use crate::{Result, fail};

/// The section of `changelog` for `version` (a leading `v` is ignored): the
/// lines after its `## [VERSION]` heading up to the next `## ` heading, with
/// the link definitions that close the file left out and the blank lines
/// around it trimmed. An error naming the fix when the section is missing or
/// empty. `path` only names the file in the errors.
pub(super) fn section(changelog: &str, version: &str, path: &str) -> Result<String> {
    let version = version.strip_prefix('v').unwrap_or(version);
    let mut lines = changelog
        .lines()
        .skip_while(|line| !is_heading_of(line, version));
    if lines.next().is_none() {
        fail!(
            "{path} has no section for {version}; add a '## [{version}] - YYYY-MM-DD' heading with the changes (rename [Unreleased] when you release)"
        );
    }
    let body: Vec<&str> = lines
        .take_while(|line| !line.starts_with("## "))
        .filter(|line| !is_link_definition(line))
        .collect();
    let notes = body.join("\n").trim_matches('\n').trim_end().to_owned();
    if notes.trim().is_empty() {
        fail!("the {version} section of {path} is empty; list the changes before releasing");
    }
    Ok(notes)
}

/// `## [1.2.3] - 2026-01-31` or `## 1.2.3` is the heading of 1.2.3.
fn is_heading_of(line: &str, version: &str) -> bool {
    line.strip_prefix("## ")
        .and_then(|rest| rest.split_whitespace().next())
        .is_some_and(|word| word.trim_start_matches('[').trim_end_matches(']') == version)
}

/// `[1.2.3]: https://...` closes a Keep a Changelog file; it is not a note.
fn is_link_definition(line: &str) -> bool {
    line.starts_with('[')
        && line
            .split_once("]: ")
            .is_some_and(|(label, _)| !label.contains(']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGELOG: &str = "# Changelog\n\n## [Unreleased]\n\n- next\n\n\
        ## [1.2.0] - 2026-01-02\n\n### Added\n\n- slugs\n  [see](https://example.com)\n\n\
        ## [1.1.0] - 2025-12-01\n\n- old\n\n\
        [1.2.0]: https://example.com/1.2.0\n[1.1.0]: https://example.com/1.1.0\n";

    #[test]
    fn the_section_runs_from_its_heading_to_the_next_one() {
        assert_eq!(
            section(CHANGELOG, "1.2.0", "CHANGELOG.md"),
            Ok("### Added\n\n- slugs\n  [see](https://example.com)".to_owned())
        );
        // A tag name works as the version.
        assert_eq!(
            section(CHANGELOG, "v1.2.0", "CHANGELOG.md"),
            section(CHANGELOG, "1.2.0", "CHANGELOG.md")
        );
    }

    #[test]
    fn the_last_section_leaves_out_the_link_definitions() {
        assert_eq!(
            section(CHANGELOG, "1.1.0", "CHANGELOG.md"),
            Ok("- old".to_owned())
        );
    }

    #[test]
    fn a_version_is_matched_whole_not_by_prefix() {
        let err = section(CHANGELOG, "1.2", "CHANGELOG.md").expect_err("1.2 is not 1.2.0");
        assert!(err.0.contains("no section for 1.2;"), "{err}");
    }

    #[test]
    fn a_missing_or_empty_section_names_the_fix() {
        let missing = section(CHANGELOG, "9.9.9", "CHANGELOG.md").expect_err("no 9.9.9");
        assert!(
            missing.0.contains(
                "CHANGELOG.md has no section for 9.9.9; add a '## [9.9.9] - YYYY-MM-DD' heading"
            ),
            "{missing}"
        );
        let empty =
            section("## [2.0.0]\n\n\n## [1.0.0]\n- x\n", "2.0.0", "C.md").expect_err("empty");
        assert_eq!(
            empty.0,
            "the 2.0.0 section of C.md is empty; list the changes before releasing"
        );
    }
}
