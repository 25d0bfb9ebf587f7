//! `POST /api/v1/slugify`: the service's one business endpoint.
//!
//! The schema attributes below are the request rules of `SlugSpec::parse`,
//! written where the OpenAPI document reads them; a test checks the numbers
//! against the domain's constants. A request the document allows is never
//! refused, so a rule JSON Schema cannot state exactly is not a rule here.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::slug::SlugSpec;
use crate::http::json::{ApiJson, JsonBody, optional_whole_number};
use crate::http::problem::Problem;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlugifyRequest {
    /// Text to turn into a slug; not empty.
    #[schema(min_length = 1, example = "Crème brûlée: a recipe")]
    pub text: String,
    /// Longest slug wanted, 1 to 256 (default 64).
    #[serde(default, deserialize_with = "optional_whole_number")]
    #[schema(minimum = 1, maximum = 256, example = 32)]
    pub max_len: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlugifyResponse {
    /// Lowercase ASCII letters and digits, words joined by single dashes, at
    /// most `max_len` bytes. Empty when no character of the text
    /// transliterates to an ASCII letter or digit (`"!!!"`).
    #[schema(
        pattern = "^([a-z0-9]+(-[a-z0-9]+)*)?$",
        max_length = 256,
        example = "creme-brulee-a-recipe"
    )]
    pub slug: String,
}

/// Turn text into a URL slug.
#[utoipa::path(post, path = "/api/v1/slugify", tag = "api",
    request_body = SlugifyRequest,
    responses(
        (status = 200, description = "The slug", body = SlugifyResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "The body took longer than REQUEST_TIMEOUT_SECONDS to arrive", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over MAX_BODY_BYTES", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Content type is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body breaks the request schema; `errors` names the field", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded: retry after the Retry-After delay", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn slugify(
    ApiJson(request): ApiJson<SlugifyRequest>,
) -> Result<JsonBody<SlugifyResponse>, Problem> {
    let spec = SlugSpec::parse(request.text, request.max_len)
        .map_err(|err| Problem::invalid_field(err.field, err.message))?;
    Ok(JsonBody(SlugifyResponse { slug: spec.slug() }))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::domain::slug::MAX_MAX_LEN;
    use crate::routes::openapi::document_json;

    fn schema(name: &str) -> Value {
        let doc: Value = serde_json::from_str(&document_json().expect("renders")).expect("JSON");
        doc["components"]["schemas"][name].clone()
    }

    /// utoipa takes only literals in schema attributes: this keeps them
    /// equal to the constants `SlugSpec::parse` enforces.
    #[test]
    fn the_documented_limits_are_the_enforced_ones() {
        let max_len = &schema("SlugifyRequest")["properties"]["max_len"];
        assert_eq!(max_len["minimum"], 1);
        assert_eq!(max_len["maximum"], MAX_MAX_LEN);
        assert_eq!(
            schema("SlugifyResponse")["properties"]["slug"]["maxLength"],
            MAX_MAX_LEN
        );
    }
}
