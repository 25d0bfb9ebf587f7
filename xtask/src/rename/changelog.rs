//! CHANGELOG.md records what was released under the old name, so only its
//! link definitions are renamed, and the rename itself is recorded under
//! `## [Unreleased]`.

use super::replace::Renamer;

/// `text` with only its link definitions (`[1.0.0]: https://...`) renamed,
/// and the number of replacements.
pub(super) fn rename_links(renamer: &Renamer, text: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(text.len());
    let mut count = 0;
    for line in text.split_inclusive(|&b| b == b'\n') {
        if is_link_definition(line) {
            let (new_line, n) = renamer.rename(line);
            out.extend_from_slice(&new_line);
            count += n;
        } else {
            out.extend_from_slice(line);
        }
    }
    (out, count)
}

/// `^\[[^]]*\]: `
fn is_link_definition(line: &[u8]) -> bool {
    line.strip_prefix(b"[")
        .and_then(|rest| rest.iter().position(|&b| b == b']').map(|i| &rest[i..]))
        .is_some_and(|rest| rest.starts_with(b"]: "))
}

/// `changelog` with `note` under `### Changed` of its `## [Unreleased]`
/// section (the subsection is created when missing), or `None` when there
/// is no such section.
pub(super) fn record(changelog: &str, note: &str) -> Option<String> {
    let lines: Vec<&str> = changelog.lines().collect();
    let unreleased = lines
        .iter()
        .position(|line| line.starts_with("## [Unreleased]"))?;
    let section_end = lines[unreleased + 1..]
        .iter()
        .position(|line| line.starts_with("## "))
        .map_or(lines.len(), |i| unreleased + 1 + i);
    let changed = lines[unreleased + 1..section_end]
        .iter()
        .position(|line| line.starts_with("### Changed"))
        .map(|i| unreleased + 1 + i);
    let mut out: Vec<&str> = Vec::with_capacity(lines.len() + 5);
    match changed {
        Some(heading) => {
            out.extend(&lines[..=heading]);
            out.extend(["", note]);
            // The blank line after the heading is the one just written.
            let rest = heading + 1;
            let skip = usize::from(lines.get(rest).is_some_and(|l| l.is_empty()));
            out.extend(&lines[rest + skip..]);
        }
        None if section_end < lines.len() => {
            out.extend(&lines[..section_end]);
            out.extend(["### Changed", "", note, ""]);
            out.extend(&lines[section_end..]);
        }
        None => {
            out.extend(&lines);
            out.extend(["", "### Changed", "", note, ""]);
        }
    }
    Some(out.join("\n") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &str = "- Renamed.";

    #[test]
    fn only_link_definitions_are_renamed() {
        let renamer = Renamer::new("svc", "app", &[]);
        let text = b"## svc 1.0\n- svc started\n[1.0.0]: https://x/svc/1.0.0\n[svc] text\n";
        let (out, n) = rename_links(&renamer, text);
        assert_eq!(
            String::from_utf8(out).expect("UTF-8"),
            "## svc 1.0\n- svc started\n[1.0.0]: https://x/app/1.0.0\n[svc] text\n"
        );
        assert_eq!(n, 1);
    }

    #[test]
    fn the_note_joins_an_existing_changed_subsection() {
        let log = "# Log\n\n## [Unreleased]\n\n### Changed\n\n- Old.\n\n## [1.0.0]\n";
        assert_eq!(
            record(log, NOTE).as_deref(),
            Some("# Log\n\n## [Unreleased]\n\n### Changed\n\n- Renamed.\n- Old.\n\n## [1.0.0]\n")
        );
    }

    #[test]
    fn a_changed_subsection_is_created_before_the_next_release() {
        let log = "## [Unreleased]\n\n### Added\n\n- New.\n\n## [1.0.0]\n\n### Changed\n";
        assert_eq!(
            record(log, NOTE).as_deref(),
            Some(
                "## [Unreleased]\n\n### Added\n\n- New.\n\n### Changed\n\n- Renamed.\n\n## [1.0.0]\n\n### Changed\n"
            )
        );
    }

    #[test]
    fn an_unreleased_section_at_the_end_gets_the_subsection_appended() {
        assert_eq!(
            record("## [Unreleased]\n", NOTE).as_deref(),
            Some("## [Unreleased]\n\n### Changed\n\n- Renamed.\n\n")
        );
        assert_eq!(record("## [1.0.0]\n", NOTE), None);
    }
}
