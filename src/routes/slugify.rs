//! `POST /api/v1/slugify`: the service's one business endpoint.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::slug::SlugSpec;
use crate::http::json::{ApiJson, JsonBody};
use crate::http::problem::Problem;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlugifyRequest {
    /// Text to turn into a slug; must contain a letter or digit.
    #[schema(example = "Crème brûlée: a recipe")]
    pub text: String,
    /// Longest slug wanted, 1 to 256 (default 64).
    #[schema(minimum = 1, maximum = 256, example = 32)]
    pub max_len: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlugifyResponse {
    #[schema(example = "creme-brulee-a-recipe")]
    pub slug: String,
}

/// Turn text into a URL slug.
#[utoipa::path(post, path = "/api/v1/slugify", tag = "api",
    request_body = SlugifyRequest,
    responses(
        (status = 200, description = "The slug", body = SlugifyResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over MAX_BODY_BYTES", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Content type is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field failed validation; `errors` names it", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded: retry after the Retry-After delay", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn slugify(
    ApiJson(request): ApiJson<SlugifyRequest>,
) -> Result<JsonBody<SlugifyResponse>, Problem> {
    let spec = SlugSpec::parse(request.text, request.max_len)
        .map_err(|err| Problem::invalid_field(err.field, err.message))?;
    let slug = spec.slug();
    if slug.is_empty() {
        return Err(Problem::invalid_field(
            "text",
            "has no letters or digits that can be written in a slug",
        ));
    }
    Ok(JsonBody(SlugifyResponse { slug }))
}
