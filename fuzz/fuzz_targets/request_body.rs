//! Request validation on arbitrary bytes: what `POST /api/v1/slugify` does
//! with a body once it is within `MAX_BODY_BYTES`. Parsing never panics,
//! refusals are 400 (not JSON) or 422 (wrong shape) and never leak Rust
//! type or module names, and an accepted body always yields a valid answer.

#![no_main]

use libfuzzer_sys::fuzz_target;
use payload::domain::slug::SlugSpec;
use payload::http::json::parse;
use payload::routes::slugify::SlugifyRequest;

fuzz_target!(|data: &[u8]| {
    let is_json = serde_json::from_slice::<serde_json::Value>(data).is_ok();
    match parse::<SlugifyRequest>(data) {
        Ok(request) => {
            assert!(is_json, "accepted a body serde_json refuses");
            // The rest of the handler: validation, then the slug.
            if let Ok(spec) = SlugSpec::parse(request.text, request.max_len) {
                let slug = spec.slug();
                assert!(
                    slug.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                    "{slug:?}"
                );
            }
        }
        Err(problem) => {
            let expected = if is_json { 422 } else { 400 };
            assert_eq!(problem.status, expected, "{problem:?}");
            // Details quote the client's own field names and values; anything
            // else that looks like code is a leak.
            let input = String::from_utf8_lossy(data);
            for leak in ["SlugifyRequest", "payload::", "serde", "src/", "panicked"] {
                if !input.contains(leak) {
                    assert!(
                        !problem.detail.contains(leak),
                        "detail leaks {leak:?}: {problem:?}"
                    );
                }
            }
            if problem.status == 422 {
                assert!(
                    !problem.errors.is_empty(),
                    "a 422 names no field: {problem:?}"
                );
            }
        }
    }
});
