//! Slug rules on arbitrary text: `SlugSpec::parse` and `slugify` never
//! panic, and every slug they produce keeps the documented shape.
//!
//! Input format (so seeds stay readable): the first line is `max_len` as a
//! decimal integer (anything else means "not given"), the rest is the text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use payload::domain::slug::{DEFAULT_MAX_LEN, MAX_MAX_LEN, SlugSpec, slugify};

fuzz_target!(|data: &[u8]| {
    let (first_line, text) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let max_len: Option<i64> = std::str::from_utf8(first_line)
        .ok()
        .and_then(|s| s.trim().parse().ok());
    // The service only ever sees valid UTF-8 (it arrives as a JSON string).
    let text = String::from_utf8_lossy(text).into_owned();

    // Validation: accepted exactly when the documented rules say so.
    let in_range =
        max_len.is_none_or(|n| usize::try_from(n).is_ok_and(|n| (1..=MAX_MAX_LEN).contains(&n)));
    let non_empty = !text.is_empty();
    match SlugSpec::parse(text.clone(), max_len) {
        Ok(spec) => {
            assert!(in_range && non_empty, "accepted {max_len:?} {text:?}");
            let limit = max_len.map_or(DEFAULT_MAX_LEN, |n| usize::try_from(n).unwrap());
            check_slug(&spec.slug(), limit);
        }
        Err(err) => {
            assert!(
                !(in_range && non_empty),
                "refused {max_len:?} {text:?}: {err}"
            );
            let expected_field = if in_range { "text" } else { "max_len" };
            assert_eq!(err.field, expected_field, "{err}");
        }
    }

    // The slug function itself, with lengths outside the validated range
    // too (0 and above 256), which callers inside the crate could pass.
    let raw_len = max_len.map_or(DEFAULT_MAX_LEN, |n| {
        usize::try_from(n.unsigned_abs() % 1024).expect("below 1024")
    });
    check_slug(&slugify(&text, raw_len), raw_len);
});

/// The shape every slug has, and slugify being idempotent on its output.
fn check_slug(slug: &str, max_len: usize) {
    assert!(slug.len() <= max_len, "{slug:?} longer than {max_len}");
    assert!(
        slug.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "{slug:?} has a character outside [a-z0-9-]"
    );
    assert!(
        !slug.starts_with('-') && !slug.ends_with('-') && !slug.contains("--"),
        "{slug:?} has a leading, trailing or double dash"
    );
    assert_eq!(slugify(slug, max_len), slug, "slugify is not idempotent");
}
