//! JSON in and out with the error mapping of the API contract.
//!
//! axum's own `Json` extractor reports errors as plain text and says 422
//! for a syntax error inside a wrongly-shaped value; this one answers with
//! problem documents: 415 for a non-JSON content type, 413 for a body over
//! the limit, 400 for malformed JSON, 422 naming the offending field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::fmt;

use serde::Serialize;
use serde::de::{self, DeserializeOwned, Deserializer, Unexpected, Visitor};

use crate::http::problem::{self, Problem};

pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// A 200 whose body is already JSON text.
pub fn json_response(body: impl IntoResponse) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        )],
        body,
    )
        .into_response()
}

/// A JSON request body, deserialised with the API's error mapping.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        if !has_json_content_type(request.headers()) {
            return Err(Problem::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Problem::for_status(StatusCode::PAYLOAD_TOO_LARGE)
                } else {
                    Problem::new(
                        StatusCode::BAD_REQUEST,
                        "the request body could not be read",
                    )
                }
            })?;
        parse(&bytes).map(ApiJson)
    }
}

/// Parses a body: syntax first (400), then shape and types (422).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    // The common case, a valid object, deserialises straight into `T`:
    // building a `Value` first cost about 3,000 instructions per request
    // (docs/performance.md). serde would also read a struct from a JSON
    // array, hence the object check. Whatever fails here takes the path
    // below, which alone decides the status and message of an error.
    if starts_with_object(bytes)
        && let Ok(parsed) = serde_json::from_slice(bytes)
    {
        return Ok(parsed);
    }
    // Parsing to a `Value` first separates "not JSON" from "wrong JSON" and
    // keeps Rust type names out of messages about the top-level shape.
    // serde_json's recursion limit (128) turns deeply nested input into a
    // syntax error here instead of a stack overflow.
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|err| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            format!("the request body is not valid JSON: {err}"),
        )
    })?;
    if !value.is_object() {
        return Err(Problem::invalid_field("body", "must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        Problem::invalid_field(field_name(&path, &message), message)
    })
}

/// Whether the first byte after JSON whitespace opens an object.
fn starts_with_object(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        == Some(&b'{')
}

/// The field a serde error is about. A missing field is reported at its
/// parent's path, so its name is taken from the message instead.
fn field_name(path: &str, message: &str) -> String {
    if let Some(rest) = message.strip_prefix("missing field `") {
        let missing = rest.split('`').next().unwrap_or_default();
        return if path == "." {
            missing.to_owned()
        } else {
            format!("{path}.{missing}")
        };
    }
    if path == "." {
        "body".to_owned()
    } else {
        path.to_owned()
    }
}

/// `deserialize_with` for an optional integer field, reading numbers the way
/// JSON Schema's `integer` does (the OpenAPI document's view): `123.0` and
/// `1.23e2` are the integer 123, where serde alone would refuse them.
/// Use with `#[serde(default)]`, so a missing field is `None`.
pub fn optional_whole_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    struct WholeNumber;

    impl<'de> Visitor<'de> for WholeNumber {
        type Value = Option<i64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v).map(Some).map_err(|_| {
                E::invalid_value(Unexpected::Unsigned(v), &"an integer within 64 bits")
            })
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            // -2^63 and 2^63 are exact as f64; every whole f64 between them
            // converts to i64 without loss.
            const LIMIT: f64 = 9_223_372_036_854_775_808.0;
            if v.fract() != 0.0 {
                return Err(E::invalid_type(Unexpected::Float(v), &self));
            }
            if !(-LIMIT..LIMIT).contains(&v) {
                return Err(E::invalid_value(
                    Unexpected::Float(v),
                    &"an integer within 64 bits",
                ));
            }
            #[allow(clippy::cast_possible_truncation)] // whole and in range, checked above
            Ok(Some(v as i64))
        }
    }

    deserializer.deserialize_option(WholeNumber)
}

fn has_json_content_type(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence
            .rsplit_once('+')
            .is_some_and(|(_, suffix)| suffix.eq_ignore_ascii_case("json"))
}

/// A JSON response with an explicit charset.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T: Serialize> IntoResponse for JsonBody<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => json_response(body),
            Err(err) => problem::internal_error("cannot serialise a response", &err),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        text: String,
        max_len: Option<i64>,
    }

    #[derive(Debug, Deserialize)]
    struct Count {
        #[serde(default, deserialize_with = "optional_whole_number")]
        n: Option<i64>,
    }

    fn count(bytes: &str) -> Result<Option<i64>, Problem> {
        parse::<Count>(bytes.as_bytes()).map(|c| c.n)
    }

    #[test]
    fn whole_numbers_are_integers_in_any_notation() {
        assert_eq!(count(r#"{"n": 123}"#).ok(), Some(Some(123)));
        assert_eq!(count(r#"{"n": 123.0}"#).ok(), Some(Some(123)));
        assert_eq!(count(r#"{"n": 1.23e2}"#).ok(), Some(Some(123)));
        assert_eq!(count(r#"{"n": -0.0}"#).ok(), Some(Some(0)));
        assert_eq!(
            count(r#"{"n": -9223372036854775808}"#).ok(),
            Some(Some(i64::MIN))
        );
        assert_eq!(count(r#"{"n": null}"#).ok(), Some(None));
        assert_eq!(count("{}").ok(), Some(None));
    }

    #[test]
    fn fractions_and_numbers_beyond_64_bits_are_named_422s() {
        for bad in [
            "1.5",
            "1e19",
            "-1e19",
            "9223372036854775808",
            "\"7\"",
            "true",
        ] {
            let p = count(&format!(r#"{{"n": {bad}}}"#)).expect_err(bad);
            assert_eq!(p.status, 422, "{bad}");
            assert_eq!(p.errors[0].field, "n", "{bad}");
        }
    }

    fn problem(bytes: &str) -> Problem {
        parse::<Body>(bytes.as_bytes()).expect_err("invalid body")
    }

    #[test]
    fn malformed_json_is_a_400() {
        assert_eq!(problem("{\"text\": ").status, 400);
        assert_eq!(problem("not json").status, 400);
    }

    #[test]
    fn deep_nesting_is_a_400_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(problem(&deep).status, 400);
    }

    #[test]
    fn a_missing_field_is_named() {
        let p = problem("{}");
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "text");
    }

    #[test]
    fn a_wrong_type_is_named() {
        let p = problem(r#"{"text": 5}"#);
        assert_eq!(p.errors[0].field, "text");
        let p = problem(r#"{"text": "a", "max_len": "ten"}"#);
        assert_eq!(p.errors[0].field, "max_len");
    }

    #[test]
    fn an_unknown_field_is_named() {
        let p = problem(r#"{"text": "a", "colour": 1}"#);
        assert_eq!(p.status, 422);
        assert!(p.detail.contains("colour"), "{}", p.detail);
    }

    #[test]
    fn a_valid_object_parses() {
        let body: Body = parse(br#" {"text": "a", "max_len": 5} "#).expect("valid");
        assert_eq!((body.text.as_str(), body.max_len), ("a", Some(5)));
    }

    #[test]
    fn an_array_in_the_shape_of_the_struct_is_still_a_422() {
        let p = problem(r#"["a", 5]"#);
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "body");
    }

    #[test]
    fn a_repeated_field_keeps_its_last_value_as_before() {
        let body: Body = parse(br#"{"text": "a", "text": "b"}"#).expect("valid");
        assert_eq!(body.text, "b");
    }

    #[test]
    fn a_non_object_never_names_a_rust_type() {
        let p = problem("[1, 2]");
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "body");
        assert!(!p.detail.contains("Body"), "{}", p.detail);
    }

    #[test]
    fn json_content_types() {
        let with = |ct: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_str(ct).expect("valid"),
            );
            has_json_content_type(&headers)
        };
        assert!(with("application/json"));
        assert!(with("application/json; charset=utf-8"));
        assert!(with("Application/JSON"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/jsonp"));
        assert!(!has_json_content_type(&HeaderMap::new()));
    }
}
