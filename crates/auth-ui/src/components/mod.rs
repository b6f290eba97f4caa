//! The components, one module per concern.

pub(crate) mod control;
pub(crate) mod forms;
pub(crate) mod profile;
pub(crate) mod user_button;
