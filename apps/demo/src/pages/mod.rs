//! One module a page.

mod auth;
mod dashboard;
mod home;
mod shell;

pub use auth::{SignInPage, SignUpPage};
pub use dashboard::{Dashboard, Profile};
pub use home::Home;
pub use shell::Shell;
