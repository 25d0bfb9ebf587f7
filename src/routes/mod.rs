//! One module per endpoint group.

pub mod health;
pub mod metrics;
pub mod openapi;
pub mod slugify;
pub mod version;
