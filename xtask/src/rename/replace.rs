//! The replacement itself: every spelling of the old name becomes the same
//! spelling of the new one, in one left-to-right pass over the text.
//!
//! One pass that copies what it does not replace never looks at its own
//! output, so a new name that contains the old one (`svc` to `svc-two`) is
//! replaced once, and phrases on the keep-list are copied untouched.

use aho_corasick::{AhoCorasick, Input, MatchKind};

use super::name::Spellings;

/// Log levels: in `RUST_LOG=<name>=debug` the name is the crate's (`snake_case`).
const LOG_LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// Cargo keeps the binary's own (kebab-case) name in `CARGO_BIN_EXE_<name>`.
const BIN_EXE: &str = "CARGO_BIN_EXE_";

/// What a pattern is; where the name sits decides whether it is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A keep-list phrase: copied as it is.
    Keep,
    /// A one-word lowercase name: kebab and snake case look alike, so the
    /// context picks the spelling of the new name.
    Lower,
    Kebab,
    Snake,
    Upper,
    Pascal,
    /// `CARGO_BIN_EXE_<name>` of a one-word name.
    BinExe,
}

/// Renames one name to another in any text (file contents or paths).
#[derive(Debug)]
pub struct Renamer {
    matcher: AhoCorasick,
    kinds: Vec<Kind>,
    new: Spellings,
}

impl Renamer {
    /// `keep`: phrases that contain the old name but are not the service's.
    pub fn new(old: &str, new: &str, keep: &[&str]) -> Self {
        let old = Spellings::of(old);
        let mut patterns: Vec<String> = Vec::new();
        let mut kinds = Vec::new();
        let mut add = |pattern: String, kind| {
            // A spelling equal to an earlier one (`A1` is both UPPER and
            // Pascal case) keeps the earlier meaning, as the order here says.
            if !patterns.contains(&pattern) {
                patterns.push(pattern);
                kinds.push(kind);
            }
        };
        for phrase in keep {
            add((*phrase).to_owned(), Kind::Keep);
        }
        if old.is_one_word() {
            add(format!("{BIN_EXE}{}", old.kebab), Kind::BinExe);
            add(old.kebab.clone(), Kind::Lower);
        } else {
            add(old.snake.clone(), Kind::Snake);
            add(old.kebab.clone(), Kind::Kebab);
        }
        add(old.upper.clone(), Kind::Upper);
        add(old.pascal.clone(), Kind::Pascal);
        // Leftmost-longest: a keep phrase wins over the name it starts with
        // (`..._TOO_LARGE`), and `CARGO_BIN_EXE_<name>` over the bare name.
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .expect("a handful of short literal patterns always builds");
        Self {
            matcher,
            kinds,
            new: Spellings::of(new),
        }
    }

    /// `text` renamed, and the number of replacements made.
    pub fn rename(&self, text: &[u8]) -> (Vec<u8>, usize) {
        let mut out = Vec::with_capacity(text.len() + 64);
        let (mut copied, mut from, mut count) = (0, 0, 0);
        while let Some(found) = self.matcher.find(Input::new(text).span(from..text.len())) {
            let (start, end) = (found.start(), found.end());
            let kind = self.kinds[found.pattern().as_usize()];
            if kind == Kind::Keep {
                from = end;
                continue;
            }
            match self.replacement(kind, &text[..start], &text[end..]) {
                Some(new) => {
                    out.extend_from_slice(&text[copied..start]);
                    if kind == Kind::BinExe {
                        out.extend_from_slice(BIN_EXE.as_bytes());
                    }
                    out.extend_from_slice(new.as_bytes());
                    (copied, from, count) = (end, end, count + 1);
                }
                // Part of a longer word: look again one byte further, where
                // another spelling may start.
                None => from = start + 1,
            }
        }
        out.extend_from_slice(&text[copied..]);
        (out, count)
    }

    /// The new spelling for a match between `before` and `after`, or `None`
    /// when the match is part of a longer word. A name ends where letters and
    /// digits end: `api` is not renamed inside `openapi`, but is in `api-ci`,
    /// `api_http` and `api::`.
    fn replacement(&self, kind: Kind, before: &[u8], after: &[u8]) -> Option<&str> {
        let word = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
        let glued_before = word(before.last());
        let glued_after = word(after.first());
        let new = &self.new;
        match kind {
            Kind::Keep => None,
            Kind::BinExe => (!glued_after).then_some(new.kebab.as_str()),
            Kind::Lower if glued_before => None,
            Kind::Lower => {
                // Rust paths (x::), identifiers and metric names (x_total,
                // y_x), log filter directives (x=debug) are snake_case.
                let snake = after.starts_with(b"::")
                    || after.starts_with(b"_")
                    || (before.last() == Some(&b'_') && !glued_after)
                    || LOG_LEVELS.iter().any(|level| {
                        after
                            .strip_prefix(b"=")
                            .is_some_and(|rest| rest.starts_with(level.as_bytes()))
                    });
                if snake {
                    Some(&new.snake)
                } else {
                    (!glued_after).then_some(new.kebab.as_str())
                }
            }
            _ if glued_before => None,
            Kind::Kebab => (!glued_after).then_some(new.kebab.as_str()),
            Kind::Snake => (!glued_after).then_some(new.snake.as_str()),
            Kind::Upper => (!glued_after).then_some(new.upper.as_str()),
            // PascalCase runs on into the next word (NameHighErrorRatio).
            Kind::Pascal => {
                let lower_after = after
                    .first()
                    .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
                (!lower_after).then_some(new.pascal.as_str())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP: [&str; 3] = ["SVC_TOO_LARGE", "Svc Too Large", "panic svc"];

    fn rename(old: &str, new: &str, text: &str) -> (String, usize) {
        let (out, n) = Renamer::new(old, new, &KEEP).rename(text.as_bytes());
        (String::from_utf8(out).expect("UTF-8"), n)
    }

    #[test]
    fn a_one_word_name_takes_the_spelling_its_context_asks_for() {
        let cases = [
            ("svc", "my-app"),
            ("use svc::x;", "use my_app::x;"),
            ("svc_http_requests_total", "my_app_http_requests_total"),
            ("dep_svc v", "dep_my_app v"),
            ("RUST_LOG=svc=debug", "RUST_LOG=my_app=debug"),
            ("svc=other", "my-app=other"),
            ("CARGO_BIN_EXE_svc", "CARGO_BIN_EXE_my-app"),
            ("image: svc:local", "image: my-app:local"),
            ("SVC_PORT=1", "MY_APP_PORT=1"),
            ("SvcHighErrorRatio", "MyAppHighErrorRatio"),
            (
                "docs/svc-extras/svc_notes.md",
                "docs/my-app-extras/my_app_notes.md",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(rename("svc", "my-app", text).0, want, "{text}");
        }
    }

    #[test]
    fn a_name_inside_a_longer_word_is_left_alone() {
        for text in ["websvc", "svcs", "Svcs", "MySvc", "xSVC", "SVCX", "svc2"] {
            assert_eq!(rename("svc", "my-app", text), (text.to_owned(), 0));
        }
    }

    #[test]
    fn kept_phrases_are_copied_and_the_rest_of_the_line_renamed() {
        let (out, n) = rename(
            "svc",
            "my-app",
            "StatusCode::SVC_TOO_LARGE, a panic svc, Svc Too Large; svc",
        );
        assert_eq!(
            out,
            "StatusCode::SVC_TOO_LARGE, a panic svc, Svc Too Large; my-app"
        );
        assert_eq!(n, 1);
    }

    #[test]
    fn a_new_name_that_contains_the_old_one_is_replaced_once() {
        assert_eq!(
            rename("svc", "svc-svc", "svc svc_x SVC"),
            ("svc-svc svc_svc_x SVC_SVC".to_owned(), 3)
        );
    }

    #[test]
    fn a_name_of_several_words_is_matched_in_each_spelling() {
        let (out, n) = rename(
            "acme-svc",
            "new",
            "acme-svc acme_svc::x ACME_SVC_PORT AcmeSvcHigh CARGO_BIN_EXE_acme-svc",
        );
        assert_eq!(out, "new new::x NEW_PORT NewHigh CARGO_BIN_EXE_new");
        assert_eq!(n, 5);
    }

    #[test]
    fn a_rejected_match_does_not_hide_an_overlapping_one() {
        // "xab-ab" is glued, the "ab-ab" that starts inside it is not.
        assert_eq!(rename("ab-ab", "z", "xab-ab-ab").0, "xab-z");
    }

    #[test]
    fn bytes_that_are_not_utf8_pass_through() {
        let (out, n) = Renamer::new("svc", "app", &KEEP).rename(b"\xff svc \xfe");
        assert_eq!((out.as_slice(), n), (&b"\xff app \xfe"[..], 1));
    }
}
