//! Entry points for the `cargo fuzz` targets in `fuzz/`, the benchmarks and the property tests
//! (not a public API: hidden, unstable).
//!
//! They run exactly the code the sign-up, sign-in and sign-out endpoints run on a request body
//! before touching the database: `Content-Type` dispatch, JSON / form parsing, normalisation,
//! validation and `redirect_url` sanitising.

pub use crate::error::ApiError;
pub use crate::password::Passwords;
pub use crate::validate::{is_valid_email, normalise_email};

use crate::body::{Format, parse as parse_body, sign_in_key, validate_sign_up};
use crate::redirect::safe_redirect;
use auth_types::contract::{
    SignInRequest as SignInInput, SignOutRequest as SignOutInput, SignUpRequest as SignUpInput,
};

/// Which endpoint's body a fuzz input is parsed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /auth/sign-up`.
    SignUp,
    /// `POST /auth/sign-in`.
    SignIn,
    /// `POST /auth/sign-out` (and `/auth/sign-out-all`).
    SignOut,
}

/// What a body became once parsed and validated, as the handler would go on with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The normalised email (empty for sign-out).
    pub email: String,
    /// The password the handler hashes or verifies: NFKC-normalised (sign-in: cut to 128
    /// characters).
    pub password: String,
    /// The name stored at sign-up.
    pub name: String,
    /// Sign-in only: whether the account is looked up at all.
    pub plausible: bool,
    /// The sanitised redirect target.
    pub redirect: String,
    /// `true` for a form post (answered with a 303), `false` for JSON.
    pub form: bool,
}

/// Parses and validates a body for `endpoint` as its handler does. `Err` is the HTTP error the
/// endpoint would answer with (before any database access).
pub fn parse(
    endpoint: Endpoint,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Parsed, ApiError> {
    match endpoint {
        Endpoint::SignUp => {
            let (input, format) = parse_body::<SignUpInput>(content_type, body, false)?;
            let redirect = safe_redirect(input.redirect_url.as_deref());
            let (email, name, password) = validate_sign_up(&input)?;
            Ok(Parsed {
                email,
                password,
                name,
                plausible: true,
                redirect,
                form: format == Format::Form,
            })
        }
        Endpoint::SignIn => {
            let (input, format) = parse_body::<SignInInput>(content_type, body, false)?;
            let redirect = safe_redirect(input.redirect_url.as_deref());
            let (email, plausible, password) = sign_in_key(&input);
            Ok(Parsed {
                email,
                password,
                name: String::new(),
                plausible,
                redirect,
                form: format == Format::Form,
            })
        }
        Endpoint::SignOut => {
            let (input, format) = parse_body::<SignOutInput>(content_type, body, true)?;
            Ok(Parsed {
                email: String::new(),
                password: String::new(),
                name: String::new(),
                plausible: false,
                redirect: safe_redirect(input.redirect_url.as_deref()),
                form: format == Format::Form,
            })
        }
    }
}
