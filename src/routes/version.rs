//! Which build answered: during a rolling update the git SHA tells old and
//! new replicas apart.

use crate::build_info::{BUILD_INFO, BuildInfo};
use crate::http::json::JsonBody;

/// Build identity.
#[utoipa::path(get, path = "/version", tag = "meta",
    responses((status = 200, description = "The running build", body = BuildInfo)))]
pub async fn version() -> JsonBody<BuildInfo> {
    JsonBody(BUILD_INFO)
}
