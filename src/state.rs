//! State shared by the handlers. Nothing here differs between replicas:
//! readiness is about this process's lifecycle, metrics are per process.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::metrics::Metrics;

#[derive(Debug, Clone)]
pub struct AppState {
    pub readiness: Readiness,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new() -> Self {
        let readiness = Readiness::default();
        let metrics = Arc::new(Metrics::new(&readiness));
        Self { readiness, metrics }
    }
}

impl Default for AppState {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `/readyz` answers 200. Starts ready; flips once, at shutdown.
#[derive(Debug, Clone)]
pub struct Readiness(Arc<AtomicBool>);

impl Default for Readiness {
    fn default() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    pub fn shutting_down(&self) {
        self.0.store(false, Ordering::Release);
    }
}
