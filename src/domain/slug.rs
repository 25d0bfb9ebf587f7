//! Slug rules: turn any text into a URL-safe identifier.
//!
//! A slug holds only `[a-z0-9-]`, never starts or ends with a dash, never
//! has two dashes in a row, and is at most `max_len` bytes long. Letters
//! outside ASCII are transliterated (`Crème brûlée` becomes `creme-brulee`)
//! by the `deunicode` crate rather than dropped.
//!
//! Every rule on a request is one a JSON Schema states exactly (the OpenAPI
//! document carries them), so a client that follows the document is never
//! refused. Text whose characters have no ASCII letters or digits (`"!!!"`)
//! is therefore not an error: its slug is empty.

/// `max_len` when a request does not give one.
pub const DEFAULT_MAX_LEN: usize = 64;
/// Largest `max_len` a request may ask for.
pub const MAX_MAX_LEN: usize = 256;

/// A slug request whose fields passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlugSpec {
    text: String,
    max_len: usize,
}

/// A rule a request broke, with the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl SlugSpec {
    /// Validates the request fields: `text` not empty, `max_len` from 1 to
    /// [`MAX_MAX_LEN`]. `max_len` is signed so that a negative number is
    /// reported as out of range instead of as a type error.
    pub fn parse(text: String, max_len: Option<i64>) -> Result<Self, ValidationError> {
        let max_len = match max_len {
            None => DEFAULT_MAX_LEN,
            Some(n) => usize::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_MAX_LEN).contains(n))
                .ok_or_else(|| ValidationError {
                    field: "max_len",
                    message: format!("must be an integer from 1 to {MAX_MAX_LEN}, got {n}"),
                })?,
        };
        if text.is_empty() {
            return Err(ValidationError {
                field: "text",
                message: "must not be empty".to_owned(),
            });
        }
        Ok(Self { text, max_len })
    }

    /// The slug; empty when no character of the text transliterates to an
    /// ASCII letter or digit.
    pub fn slug(&self) -> String {
        slugify(&self.text, self.max_len)
    }
}

/// Slugifies `text` to at most `max_len` bytes.
pub fn slugify(text: &str, max_len: usize) -> String {
    let ascii = deunicode::deunicode(text);
    let mut slug = String::with_capacity(ascii.len().min(max_len));
    let mut pending_dash = false;
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            // +1 for the dash that may go before this character.
            let needed = 1 + usize::from(pending_dash && !slug.is_empty());
            if slug.len() + needed > max_len {
                break;
            }
            if pending_dash && !slug.is_empty() {
                slug.push('-');
            }
            pending_dash = false;
            slug.push(c.to_ascii_lowercase());
        } else {
            pending_dash = true;
        }
    }
    slug
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn lowercases_and_joins_words_with_single_dashes() {
        assert_eq!(slugify("Hello, World!", 64), "hello-world");
        assert_eq!(
            slugify("  many   spaces -- and__underscores ", 64),
            "many-spaces-and-underscores"
        );
    }

    #[test]
    fn transliterates_letters_outside_ascii() {
        assert_eq!(slugify("Crème brûlée", 64), "creme-brulee");
        assert_eq!(slugify("Straße in Köln", 64), "strasse-in-koln");
    }

    #[test]
    fn truncates_without_a_trailing_dash() {
        assert_eq!(slugify("abc def", 4), "abc");
        assert_eq!(slugify("abc def", 5), "abc-d");
        assert_eq!(slugify("abcdef", 3), "abc");
    }

    #[test]
    fn keeps_digits() {
        assert_eq!(slugify("Rust 2024 edition", 64), "rust-2024-edition");
    }

    #[test]
    fn defaults_max_len() {
        let spec = SlugSpec::parse("x".repeat(100), None).expect("valid");
        assert_eq!(spec.slug().len(), DEFAULT_MAX_LEN);
    }

    #[test]
    fn rejects_max_len_out_of_range() {
        for bad in [0, -1, i64::MIN, 257, i64::MAX] {
            let err = SlugSpec::parse("abc".into(), Some(bad)).expect_err("out of range");
            assert_eq!(err.field, "max_len");
            assert!(err.message.contains("from 1 to 256"), "{err}");
        }
    }

    #[test]
    fn rejects_empty_text() {
        let err = SlugSpec::parse(String::new(), None).expect_err("empty");
        assert_eq!(err.field, "text");
    }

    #[test]
    fn text_without_ascii_letters_or_digits_gives_an_empty_slug() {
        for text in ["   ", "!!!", "-_-"] {
            let spec = SlugSpec::parse(text.into(), None).expect("valid");
            assert_eq!(spec.slug(), "", "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn output_uses_only_the_slug_alphabet(text in any::<String>(), max_len in 1..=MAX_MAX_LEN) {
            let slug = slugify(&text, max_len);
            prop_assert!(slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{slug:?}");
        }

        #[test]
        fn no_leading_trailing_or_double_dash(text in any::<String>(), max_len in 1..=MAX_MAX_LEN) {
            let slug = slugify(&text, max_len);
            prop_assert!(!slug.starts_with('-') && !slug.ends_with('-') && !slug.contains("--"), "{slug:?}");
        }

        #[test]
        fn never_longer_than_max_len(text in any::<String>(), max_len in 1..=MAX_MAX_LEN) {
            prop_assert!(slugify(&text, max_len).len() <= max_len);
        }

        #[test]
        fn idempotent_on_its_own_output(text in any::<String>(), max_len in 1..=MAX_MAX_LEN) {
            let once = slugify(&text, max_len);
            prop_assert_eq!(slugify(&once, max_len), once);
        }

        #[test]
        fn non_empty_when_the_input_has_an_ascii_letter_or_digit(
            prefix in any::<String>(), c in "[A-Za-z0-9]", suffix in any::<String>(), max_len in 1..=MAX_MAX_LEN,
        ) {
            let text = format!("{prefix}{c}{suffix}");
            prop_assert!(!slugify(&text, max_len).is_empty(), "{text:?}");
        }
    }
}
