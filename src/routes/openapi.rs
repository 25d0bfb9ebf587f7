//! Serves the OpenAPI document generated from the handlers and types.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;

use crate::http::json::JSON_CONTENT_TYPE;

static DOCUMENT: LazyLock<String> = LazyLock::new(crate::openapi::document_json);

/// This API's OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        )],
        DOCUMENT.as_str(),
    )
}
