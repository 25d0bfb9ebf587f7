//! Business rules, free of HTTP: what the API does, testable on its own.

pub mod slug;
