//! The components, one module per concern.

pub(crate) mod connections;
pub(crate) mod control;
pub(crate) mod fields;
pub(crate) mod forms;
pub(crate) mod profile;
pub(crate) mod recovery;
pub(crate) mod request;
pub(crate) mod settings;
pub(crate) mod social;
pub(crate) mod user_button;
pub(crate) mod verify;
