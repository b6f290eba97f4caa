//! (SEAM stub) see issue 16.

use crate::Inner;
use std::sync::Arc;

/// This feature's routes, merged by `routes.rs`.
pub(crate) fn routes() -> axum::Router<Arc<Inner>> {
    axum::Router::new()
}
