//! RFC 9457 problem documents for every error response.
//!
//! Handlers return a [`Problem`]; layers outside the handlers (timeouts,
//! body limits, 404/405 from the router, panics) produce bare responses.
//! [`render`] runs outside all of them and turns every error status into a
//! problem document carrying the request id, so clients see one error shape.
//! Documents never contain internal details: no paths, type names or panic
//! messages (those go to the log, under the same request id).

use axum::BoxError;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::request_id::request_id;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json; charset=utf-8";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status code says what kind of problem it is.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub problem_type: &'static str,
    /// The status code's reason phrase.
    #[schema(example = "Unprocessable Entity")]
    pub title: String,
    /// The HTTP status code, repeated.
    #[schema(minimum = 400, maximum = 599, example = 422)]
    pub status: u16,
    /// What was wrong and, where the client can act, what to do.
    #[schema(example = "max_len: must be an integer from 1 to 256, got 0")]
    pub detail: String,
    /// The `x-request-id` of the request, to find it in the logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The request fields that failed validation (422 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One invalid request field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    #[schema(example = "max_len")]
    pub field: String,
    #[schema(example = "must be an integer from 1 to 256, got 0")]
    pub message: String,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            problem_type: "about:blank",
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            request_id: None,
            errors: Vec::new(),
        }
    }

    /// A 422 naming the offending field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        Self {
            errors: vec![FieldError {
                field: field.clone(),
                message: message.clone(),
            }],
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{field}: {message}"),
            )
        }
    }

    /// The default document for a status that no handler explained.
    pub fn for_status(status: StatusCode) -> Self {
        let detail = match status {
            StatusCode::NOT_FOUND => "no route matches this path; see /openapi.json for the API",
            StatusCode::METHOD_NOT_ALLOWED => {
                "this route does not accept this method; the Allow header lists the ones it does"
            }
            StatusCode::PAYLOAD_TOO_LARGE => {
                "the request body is larger than the server accepts (MAX_BODY_BYTES)"
            }
            StatusCode::REQUEST_TIMEOUT => {
                "the request took longer than the server allows (REQUEST_TIMEOUT_SECONDS)"
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                "send the body as JSON with content-type: application/json"
            }
            StatusCode::SERVICE_UNAVAILABLE => "the server is busy or shutting down; retry shortly",
            StatusCode::INTERNAL_SERVER_ERROR => {
                "an unexpected error occurred; report the request_id to the operators"
            }
            _ => "the request could not be processed",
        };
        Self::new(status, detail)
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Serialises the document; the response keeps a copy in its extensions
    /// so [`render`] can add the request id.
    fn to_response(&self) -> Response {
        let body = serde_json::to_vec(self).unwrap_or_default();
        let mut response = (
            self.status_code(),
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
            )],
            body,
        )
            .into_response();
        response.extensions_mut().insert(self.clone());
        response
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

/// A 500 for a failure that is a bug, not the client's doing: the cause goes
/// to the log only (it may hold internal details), the client gets the
/// plain problem document.
pub fn internal_error(what: &str, cause: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %cause, "{what}");
    Problem::for_status(StatusCode::INTERNAL_SERVER_ERROR).into_response()
}

/// The answer at a limit (concurrent API requests, open connections): 503
/// with `Retry-After: 1`, so clients come back shortly instead of the server
/// queueing requests without bound.
pub fn overloaded() -> Response {
    let mut response = Problem::for_status(StatusCode::SERVICE_UNAVAILABLE).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Response mapper: every response with an error status leaves as a problem
/// document carrying the request id. It runs outside the request id layer
/// (see `app.rs`), so the id is already on the response.
/// Headers set by inner layers (`allow` on a 405, `retry-after` on a 503)
/// are kept.
pub fn render<B>(response: axum::http::Response<B>) -> Response
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    if !(response.status().is_client_error() || response.status().is_server_error()) {
        return response.map(Body::new);
    }

    let (mut parts, _body) = response.into_parts();
    let mut problem = parts
        .extensions
        .remove::<Problem>()
        .unwrap_or_else(|| Problem::for_status(parts.status));
    problem.request_id = request_id(&parts.headers).map(ToOwned::to_owned);
    let rendered = problem.to_response();
    let (rendered_parts, body) = rendered.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    );
    parts.extensions.extend(rendered_parts.extensions);
    Response::from_parts(parts, Body::new(body))
}

/// The message of a handler's panic, carried on the 500 response from
/// [`from_panic`] to the access log, which logs it with the request's
/// method, route and request id.
#[derive(Debug, Clone)]
pub struct PanicMessage(pub String);

/// `CatchPanicLayer` handler: a 500 document; the panic message goes only to
/// the log (through [`PanicMessage`]) because it may contain internal details.
#[allow(clippy::needless_pass_by_value)] // the signature CatchPanicLayer::custom requires
pub fn from_panic(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    let mut response = Problem::for_status(StatusCode::INTERNAL_SERVER_ERROR).into_response();
    response.extensions_mut().insert(PanicMessage(message));
    response
}
