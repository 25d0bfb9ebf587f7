//! Request ids: a client's `x-request-id` is kept when it is safe to echo
//! into logs and responses, otherwise replaced by a fresh UUID; either way
//! the request carries it to the handlers and the response carries it back
//! (`crate::http::observe` does both).
//!
//! Not tower-http's `SetRequestId` and `PropagateRequestId` plus a
//! `map_request` for the check: those look the header up five times and
//! store a `RequestId` extension that nothing here reads, which cost about
//! 800 instructions per request more (callgrind).

use axum::http::{HeaderMap, HeaderName, HeaderValue, Request};
use uuid::Uuid;
use uuid::fmt::Hyphenated;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The header as a `HeaderName`: looking a header up by `&str` parses and
/// validates the name on every call.
pub static REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);

/// The request id these headers carry (the request's, once this layer ran,
/// or the response's).
pub fn request_id(headers: &HeaderMap) -> Option<&str> {
    headers.get(&REQUEST_ID).and_then(|id| id.to_str().ok())
}

/// Whether a client-supplied id may be echoed: 1..=128 characters from
/// `[A-Za-z0-9._:-]`, which rules out log injection and header tricks.
pub fn is_acceptable(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The request's id: its own when there is exactly one and it is
/// acceptable, otherwise a fresh UUID v4.
fn id_for<B>(request: &Request<B>) -> HeaderValue {
    let mut ids = request.headers().get_all(&REQUEST_ID).iter();
    match (ids.next(), ids.next()) {
        (Some(id), None) if is_acceptable(id.as_bytes()) => id.clone(),
        _ => new_id(),
    }
}

/// A fresh UUID v4, encoded on the stack rather than through `Display`.
fn new_id() -> HeaderValue {
    let mut buffer = [0; Hyphenated::LENGTH];
    let id = Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
    HeaderValue::from_str(id).expect("a hyphenated UUID is a valid header value")
}

/// Sets the request's id on it (replacing repeated or unacceptable ones)
/// and returns it, for the response (`crate::http::observe`).
pub fn assign<B>(request: &mut Request<B>) -> HeaderValue {
    let id = id_for(request);
    // `insert` also drops repeated or unacceptable ids.
    request.headers_mut().insert(REQUEST_ID.clone(), id.clone());
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The id the request carries on to the handler, and the one returned
    /// for the response.
    fn ids(sent: &[&str]) -> (String, String) {
        let mut request = Request::new(());
        for id in sent {
            request.headers_mut().append(
                REQUEST_ID.clone(),
                HeaderValue::from_str(id).expect("valid"),
            );
        }
        let echoed = assign(&mut request);
        let seen: Vec<&HeaderValue> = request.headers().get_all(&REQUEST_ID).iter().collect();
        assert_eq!(seen.len(), 1, "the handler sees exactly one id");
        (
            seen[0].to_str().expect("ASCII").to_owned(),
            echoed.to_str().expect("ASCII").to_owned(),
        )
    }

    fn is_uuid_v4(id: &str) -> bool {
        Uuid::parse_str(id)
            .is_ok_and(|uuid| uuid.get_version_num() == 4 && uuid.hyphenated().to_string() == id)
    }

    #[test]
    fn an_acceptable_id_is_kept_and_echoed() {
        assert_eq!(ids(&["req-42"]), ("req-42".into(), "req-42".into()));
    }

    #[test]
    fn a_missing_unacceptable_or_repeated_id_is_replaced_by_a_uuid() {
        for sent in [&[][..], &["a b"][..], &["one", "two"][..]] {
            let (seen, echoed) = ids(sent);
            assert_eq!(seen, echoed, "{sent:?}");
            assert!(is_uuid_v4(&seen), "{sent:?}: {seen}");
        }
        assert_ne!(ids(&[]).0, ids(&[]).0);
    }

    #[test]
    fn accepts_common_id_formats() {
        assert!(is_acceptable(b"0b2c1d6e-2f7a-4c3e-9b1a-5d4c3b2a1f00"));
        assert!(is_acceptable(b"req_01HZX.abc:42"));
    }

    #[test]
    fn refuses_what_could_inject_or_flood() {
        assert!(!is_acceptable(b""));
        assert!(!is_acceptable(b"a b"));
        assert!(!is_acceptable(b"x\"}{\"level\":\"ERROR"));
        assert!(!is_acceptable("é".as_bytes()));
        assert!(!is_acceptable(&[b'a'; MAX_REQUEST_ID_LEN + 1]));
        assert!(is_acceptable(&[b'a'; MAX_REQUEST_ID_LEN]));
    }
}
