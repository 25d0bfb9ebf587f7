//! Request ids: a client's `x-request-id` is kept when it is safe to echo
//! into logs and responses, otherwise replaced by a fresh UUID. Generation
//! and propagation are tower-http's `SetRequestId`/`PropagateRequestId`.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use tower_http::request_id::{MakeRequestId, RequestId};
use uuid::Uuid;
use uuid::fmt::Hyphenated;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
pub const MAX_REQUEST_ID_LEN: usize = 128;

pub fn header_name() -> HeaderName {
    HeaderName::from_static(REQUEST_ID_HEADER)
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

/// Drops an unacceptable (or repeated) id so `SetRequestId` generates one.
pub fn drop_unacceptable(mut request: Request) -> Request {
    let headers = request.headers_mut();
    let mut ids = headers.get_all(REQUEST_ID_HEADER).iter();
    let keep = match (ids.next(), ids.next()) {
        (Some(id), None) => is_acceptable(id.as_bytes()),
        _ => false,
    };
    if !keep {
        headers.remove(REQUEST_ID_HEADER);
    }
    request
}

/// A fresh UUID v4 for each request without an acceptable id.
/// tower-http's `MakeRequestUuid` formats it through `Display` into a
/// `String` and parses that into a header value; encoding it into a stack
/// buffer skips the formatting machinery and one allocation.
#[derive(Debug, Clone, Copy, Default)]
pub struct MakeUuid;

impl MakeRequestId for MakeUuid {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let mut buffer = [0; Hyphenated::LENGTH];
        let id = Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
        HeaderValue::from_str(id).ok().map(RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_hyphenated_lowercase_uuids_and_acceptable() {
        let request = axum::http::Request::new(());
        let first = MakeUuid.make_request_id(&request).expect("an id");
        let second = MakeUuid.make_request_id(&request).expect("an id");
        let text = first.header_value().to_str().expect("ASCII");
        let parsed = Uuid::parse_str(text).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(text, parsed.hyphenated().to_string());
        assert!(is_acceptable(text.as_bytes()));
        assert_ne!(first.header_value(), second.header_value());
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
