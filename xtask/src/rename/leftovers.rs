//! The check after a rename: where does the old name still occur?
//! Stricter than the rename itself: any case, and the name's words run
//! together (`AcmeSvc` is `acmesvc`) count too.

use aho_corasick::{AhoCorasick, Input, MatchKind};

use super::name::Spellings;

/// Finds occurrences of one name that no keep phrase covers.
#[derive(Debug)]
pub struct Leftovers {
    matcher: AhoCorasick,
    keep: usize,
}

impl Leftovers {
    pub fn new(name: &str, keep: &[&str]) -> Self {
        let name = Spellings::of(name);
        let joined = name.snake.replace('_', "");
        let patterns: Vec<&str> = keep
            .iter()
            .copied()
            .chain([name.kebab.as_str(), name.snake.as_str(), joined.as_str()])
            .collect();
        let matcher = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(patterns)
            .expect("a handful of short literal patterns always builds");
        Self {
            matcher,
            keep: keep.len(),
        }
    }

    /// Byte offsets in `text` where the name starts, in any case, outside the
    /// keep phrases and not glued to the end of a longer word (like `api` in
    /// `openapi`).
    pub fn find(&self, text: &[u8]) -> Vec<usize> {
        let mut offsets = Vec::new();
        let mut from = 0;
        while let Some(found) = self.matcher.find(Input::new(text).span(from..text.len())) {
            if found.pattern().as_usize() < self.keep {
                from = found.end();
                continue;
            }
            let glued = found
                .start()
                .checked_sub(1)
                .is_some_and(|i| text[i].is_ascii_alphanumeric());
            if !glued {
                offsets.push(found.start());
            }
            from = found.start() + 1;
        }
        offsets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(text: &str) -> Vec<usize> {
        Leftovers::new("svc", &["SVC_TOO_LARGE", "panic svc"]).find(text.as_bytes())
    }

    #[test]
    fn every_spelling_is_seen_but_not_the_kept_phrases() {
        assert_eq!(hits("use svc::x; svc_http; x-svc").len(), 3);
        assert_eq!(hits("alert: SvcHighErrorRatio").len(), 1);
        assert!(hits("StatusCode::SVC_TOO_LARGE").is_empty());
        assert!(hits("a non-string panic svc").is_empty());
        assert!(hits("the websvc document").is_empty());
        assert_eq!(hits("panic svc, svc"), vec![11]);
    }

    #[test]
    fn a_name_of_several_words_is_seen_with_or_without_separators() {
        let find = |text: &str| Leftovers::new("acme-svc", &[]).find(text.as_bytes());
        assert_eq!(find("acme-svc ACME_SVC AcmeSvc").len(), 3);
        assert!(find("acme svc").is_empty());
    }
}
