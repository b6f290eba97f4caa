//! One module a page; each page explains itself and links to its own source ([`Source`]).

mod admin;
mod api_calls;
mod auth;
mod dashboard;
mod home;
mod shell;
mod source;

pub use admin::AdminPage;
pub use api_calls::ApiCalls;
pub use auth::{ForgotPasswordPage, ResetPasswordPage, SignInPage, SignUpPage, VerifyEmailPage};
pub use dashboard::{Dashboard, Profile};
pub use home::Home;
pub use shell::Shell;
pub use source::Source;
