//! The wire contract between the prebuilt UI, the auth layer and the identity provider: cookie
//! names, `/auth` paths, form error codes and the JSON bodies the forms post. Both sides use these
//! constants, so a path or a code cannot drift between them.
//!
//! ```
//! use auth_types::contract::{FormError, cookies, paths};
//! assert_eq!(cookies::SESSION, "__session");
//! assert_eq!(paths::SIGN_IN, "/auth/sign-in");
//! assert_eq!(FormError::from_code("rate_limited"), Some(FormError::RateLimited));
//! ```

use crate::{AuthState, User};
use serde::{Deserialize, Serialize};

/// Cookie names.
pub mod cookies {
    /// The short-lived session JWT (the same name as Clerk's).
    pub const SESSION: &str = "__session";
    /// The opaque refresh secret of the embedded identity provider.
    pub const REFRESH: &str = "__refresh";
    /// [`SESSION`]'s name when the app is served over https. The `__Host-` prefix makes browsers
    /// accept the cookie only with `Secure`, `Path=/` and no `Domain`, so no sibling subdomain
    /// and no plain-http page can set it. The server still reads [`SESSION`], which loses to it.
    pub const HOST_SESSION: &str = "__Host-session";
    /// [`REFRESH`]'s name when the app is served over https (see [`HOST_SESSION`]).
    pub const HOST_REFRESH: &str = "__Host-refresh";
}

/// The identity provider's HTTP paths.
pub mod paths {
    /// `POST`: create an account and sign in.
    pub const SIGN_UP: &str = "/auth/sign-up";
    /// `POST`: sign in with email and password.
    pub const SIGN_IN: &str = "/auth/sign-in";
    /// `POST`: end this session.
    pub const SIGN_OUT: &str = "/auth/sign-out";
    /// `POST`: end every session of the signed-in user.
    pub const SIGN_OUT_ALL: &str = "/auth/sign-out-all";
    /// `GET`: the [`SessionResponse`](super::SessionResponse) of the caller.
    pub const SESSION: &str = "/auth/session";
    /// `GET`: a fresh session token ([`TokenResponse`](super::TokenResponse)), same origin only.
    pub const TOKEN: &str = "/auth/token";
    /// `GET`: the public signing keys.
    pub const JWKS: &str = "/.well-known/jwks.json";
    /// `GET`: OpenID discovery document.
    pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
    /// The server function behind the profile's name form.
    pub const PROFILE_NAME: &str = "/auth/ui/profile/name";
    /// The app page with the sign-in form (form errors redirect back here).
    pub const SIGN_IN_PAGE: &str = "/sign-in";
    /// The app page with the sign-up form.
    pub const SIGN_UP_PAGE: &str = "/sign-up";

    /// `POST` ([`VerifyEmailRequest`](super::VerifyEmailRequest)): confirm an address with the
    /// mailed code (and `email`) or link token; signs in when verification was holding the
    /// session back (`AUTH_EMAIL_VERIFICATION=required`).
    pub const VERIFY_EMAIL: &str = "/auth/verify-email";
    /// `POST` ([`EmailRequest`](super::EmailRequest)): mail a new verification code and link.
    pub const VERIFY_EMAIL_RESEND: &str = "/auth/verify-email/resend";
    /// `POST` ([`EmailRequest`](super::EmailRequest)): mail a password-reset link; the answer is
    /// the same whether or not the address has an account.
    pub const PASSWORD_RESET: &str = "/auth/password-reset";
    /// `POST` ([`PasswordResetConfirmRequest`](super::PasswordResetConfirmRequest)): set a new
    /// password with the mailed token; revokes every session and signs in fresh.
    pub const PASSWORD_RESET_CONFIRM: &str = "/auth/password-reset/confirm";
    /// `POST` ([`ChangePasswordRequest`](super::ChangePasswordRequest)), signed in.
    pub const PASSWORD: &str = "/auth/password";
    /// `POST` ([`ChangeEmailRequest`](super::ChangeEmailRequest)), signed in: mails a code and
    /// link to the new address, which replaces the old one once verified at [`VERIFY_EMAIL`].
    pub const EMAIL: &str = "/auth/email";
    /// `GET`: the signed-in user's active sessions ([`SessionsResponse`](super::SessionsResponse)).
    pub const SESSIONS: &str = "/auth/sessions";
    /// `DELETE /auth/sessions/{id}` revokes one of the caller's sessions; forms (no DELETE before
    /// the wasm loads) post to `/auth/sessions/{id}/revoke`.
    pub const SESSION_BY_ID: &str = "/auth/sessions/{id}";
    /// `POST`, the form twin of `DELETE` [`SESSION_BY_ID`].
    pub const SESSION_REVOKE: &str = "/auth/sessions/{id}/revoke";
    /// `POST`: revoke every session of the caller except this one.
    pub const SESSIONS_REVOKE_OTHERS: &str = "/auth/sessions/revoke-others";
    /// `POST` ([`PasswordRequest`](super::PasswordRequest)), signed in: delete the account.
    pub const ACCOUNT_DELETE: &str = "/auth/account/delete";
    /// `POST` ([`EmailRequest`](super::EmailRequest)): mail a sign-in code
    /// (`AUTH_EMAIL_CODE_SIGN_IN=on`); the answer does not reveal whether the address has an
    /// account.
    pub const EMAIL_CODE: &str = "/auth/email-code";
    /// `POST` ([`EmailCodeConfirmRequest`](super::EmailCodeConfirmRequest)): sign in with it.
    pub const EMAIL_CODE_CONFIRM: &str = "/auth/email-code/confirm";
    /// `GET`, debug builds without `AUTH_SMTP_URL` only: the last 50 mails the server "sent".
    pub const DEV_MAILBOX: &str = "/auth/dev/mailbox";
    /// The app page with the forgot-password form (and where its errors redirect).
    pub const FORGOT_PASSWORD_PAGE: &str = "/forgot-password";
    /// The app page the reset mail links to (`?token=`).
    pub const RESET_PASSWORD_PAGE: &str = "/reset-password";
    /// The app page the verification mail links to (`?token=`), and where the code is entered.
    pub const VERIFY_EMAIL_PAGE: &str = "/verify-email";
    /// The app page with the account settings (`UserProfile`).
    pub const PROFILE_PAGE: &str = "/profile";
    /// `GET ?redirect_url=`: start signing in with a provider (`{provider}` is its id from
    /// `AUTH_OAUTH_PROVIDERS`): a 303 to the provider. A plain link, so it works before the
    /// wasm loads. Build it with [`oauth_start`].
    pub const OAUTH_START: &str = "/auth/oauth/{provider}";
    /// `POST`, signed in: connect another provider account to the signed-in user (a 303 to the
    /// provider; a form post, so another site cannot start it).
    pub const OAUTH_LINK: &str = "/auth/oauth/{provider}/link";
    /// `GET`: where the provider sends the browser back (`?code=&state=`); the redirect URI to
    /// register with the provider is `<AUTH_PUBLIC_URL>/auth/oauth/<provider>/callback`.
    pub const OAUTH_CALLBACK: &str = "/auth/oauth/{provider}/callback";
    /// `GET`, signed in: the user's connected accounts, the enabled providers and whether the
    /// account has a password ([`ConnectionsResponse`](super::ConnectionsResponse)).
    pub const IDENTITIES: &str = "/auth/identities";
    /// `POST` ([`RedirectRequest`](super::RedirectRequest)), signed in: disconnect the user's
    /// account at `{provider}` (refused when it is the last way to sign in).
    pub const IDENTITY_UNLINK: &str = "/auth/identities/{provider}/unlink";

    /// [`OAUTH_START`] for `provider`, with the same-origin path to land on afterwards.
    ///
    /// ```
    /// use auth_types::contract::paths;
    /// assert_eq!(
    ///     paths::oauth_start("google", "/dashboard?tab=1"),
    ///     "/auth/oauth/google?redirect_url=%2Fdashboard%3Ftab%3D1"
    /// );
    /// ```
    pub fn oauth_start(provider: &str, redirect_url: &str) -> String {
        format!(
            "{}?redirect_url={}",
            with_provider(OAUTH_START, provider),
            super::encode_query_value(redirect_url)
        )
    }

    /// A path template with its `{provider}` filled in.
    ///
    /// ```
    /// use auth_types::contract::paths;
    /// assert_eq!(paths::with_provider(paths::OAUTH_LINK, "github"), "/auth/oauth/github/link");
    /// ```
    pub fn with_provider(template: &str, provider: &str) -> String {
        template.replace("{provider}", provider)
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The longest display name accepted, in characters (names also may not hold control characters).
pub const MAX_NAME_CHARS: usize = 200;

/// Why a form post failed: the `?error=<code>` a form redirect carries back to its page, and the
/// message the form shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FormError {
    /// The body could not be read.
    BadRequest,
    /// Not a valid email address.
    InvalidEmail,
    /// The password does not meet the policy.
    InvalidPassword,
    /// The display name is too long or has control characters.
    InvalidName,
    /// Sign-up with an address that cannot be used.
    EmailTaken,
    /// Wrong email or password.
    InvalidCredentials,
    /// Too many attempts.
    RateLimited,
    /// Signed out.
    Unauthorized,
    /// Refused (cross-origin).
    Forbidden,
    /// The store is down.
    Unavailable,
    /// A bug on the server.
    Internal,
    /// Sign-up with a password from the common-password list.
    CommonPassword,
    /// Sign-up with a password the breached-password service lists.
    BreachedPassword,
    /// A mailed code is wrong or expired.
    InvalidCode,
    /// A mailed link's token is wrong, used or expired.
    InvalidToken,
    /// Five wrong codes: this code is dead, a new one must be requested.
    CodeLocked,
    /// The account's address must be verified first (the form asks for the mailed code).
    VerificationRequired,
    /// The current password given to a settings form is wrong.
    WrongPassword,
    /// The thing to act on does not exist (or is not the caller's).
    NotFound,
    /// The feature is turned off in the settings.
    Disabled,
    /// The user cancelled at the provider (or it refused the request).
    OAuthDenied,
    /// The provider sign-in's `state` is missing, used, expired or from another browser.
    OAuthState,
    /// The provider answered something that is not a valid sign-in (bad code, bad ID token).
    OAuthFailed,
    /// The provider could not be reached (down, slow, or its discovery document is broken).
    OAuthUnavailable,
    /// The provider has no verified email address for the account: no account is created.
    OAuthUnverifiedEmail,
    /// A local account has the provider's address but linking is not allowed (an unverified
    /// address on either side): sign in with the password first, then connect.
    AccountExists,
    /// The provider account is already connected to another user.
    IdentityTaken,
    /// Disconnecting would leave the account without a way to sign in.
    LastSignInMethod,
}

impl FormError {
    /// Every code, in a fixed order.
    pub const ALL: [Self; 28] = [
        Self::BadRequest,
        Self::InvalidEmail,
        Self::InvalidPassword,
        Self::InvalidName,
        Self::EmailTaken,
        Self::InvalidCredentials,
        Self::RateLimited,
        Self::Unauthorized,
        Self::Forbidden,
        Self::Unavailable,
        Self::Internal,
        Self::CommonPassword,
        Self::BreachedPassword,
        Self::InvalidCode,
        Self::InvalidToken,
        Self::CodeLocked,
        Self::VerificationRequired,
        Self::WrongPassword,
        Self::NotFound,
        Self::Disabled,
        Self::OAuthDenied,
        Self::OAuthState,
        Self::OAuthFailed,
        Self::OAuthUnavailable,
        Self::OAuthUnverifiedEmail,
        Self::AccountExists,
        Self::IdentityTaken,
        Self::LastSignInMethod,
    ];

    /// The short code used in `?error=`.
    ///
    /// ```
    /// assert_eq!(auth_types::contract::FormError::EmailTaken.code(), "email_taken");
    /// ```
    pub const fn code(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::InvalidEmail => "invalid_email",
            Self::InvalidPassword => "invalid_password",
            Self::InvalidName => "invalid_name",
            Self::EmailTaken => "email_taken",
            Self::InvalidCredentials => "invalid_credentials",
            Self::RateLimited => "rate_limited",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::CommonPassword => "common_password",
            Self::BreachedPassword => "breached_password",
            Self::InvalidCode => "invalid_code",
            Self::InvalidToken => "invalid_token",
            Self::CodeLocked => "code_locked",
            Self::VerificationRequired => "verification_required",
            Self::WrongPassword => "wrong_password",
            Self::NotFound => "not_found",
            Self::Disabled => "disabled",
            Self::OAuthDenied => "oauth_denied",
            Self::OAuthState => "oauth_state",
            Self::OAuthFailed => "oauth_failed",
            Self::OAuthUnavailable => "oauth_unavailable",
            Self::OAuthUnverifiedEmail => "oauth_unverified_email",
            Self::AccountExists => "account_exists",
            Self::IdentityTaken => "identity_taken",
            Self::LastSignInMethod => "last_sign_in_method",
        }
    }

    /// The code's error, `None` for an unknown code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == code)
    }

    /// The error whose [`message`](Self::message) this is: how a client of the JSON API (`{"error":
    /// "…"}`) tells coded errors apart. `None` for any other text.
    ///
    /// ```
    /// use auth_types::contract::FormError;
    /// assert_eq!(
    ///     FormError::from_message("The code is wrong or has expired"),
    ///     Some(FormError::InvalidCode)
    /// );
    /// assert_eq!(FormError::from_message("Something else"), None);
    /// ```
    pub fn from_message(message: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.message() == message)
    }

    /// The fixed, human-readable message (also the JSON `error` of field errors).
    ///
    /// ```
    /// use auth_types::contract::FormError;
    /// assert_eq!(FormError::InvalidCredentials.message(), "Invalid email or password");
    /// ```
    pub const fn message(self) -> &'static str {
        match self {
            Self::BadRequest => "Malformed request body",
            Self::InvalidEmail => "Invalid email address",
            Self::InvalidPassword => {
                "Password must be 8 to 128 characters and differ from the email"
            }
            Self::InvalidName => "Name must be at most 200 characters",
            Self::EmailTaken => "This email cannot be used to sign up",
            Self::InvalidCredentials => "Invalid email or password",
            Self::RateLimited => "Too many attempts, try again later",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::Unavailable => "Service unavailable",
            Self::Internal => "Internal server error",
            Self::CommonPassword => "This password is too common, choose a less predictable one",
            Self::BreachedPassword => {
                "This password has appeared in a data breach, choose another one"
            }
            Self::InvalidCode => "The code is wrong or has expired",
            Self::InvalidToken => "This link is invalid or has expired, request a new one",
            Self::CodeLocked => "Too many wrong codes, request a new one",
            Self::VerificationRequired => "Enter the code we sent to your email address",
            Self::WrongPassword => "The current password is wrong",
            Self::NotFound => "Not found",
            Self::Disabled => "This feature is turned off",
            Self::OAuthDenied => "Sign-in with the provider was cancelled",
            Self::OAuthState => {
                "This sign-in expired or was started in another browser, please try again"
            }
            Self::OAuthFailed => "Sign-in with the provider failed, please try again",
            Self::OAuthUnavailable => "The sign-in provider could not be reached, try again later",
            Self::OAuthUnverifiedEmail => {
                "The provider has no verified email address for this account"
            }
            Self::AccountExists => {
                "An account with this email already exists: sign in with your password, then connect the provider from your profile"
            }
            Self::IdentityTaken => "This provider account is already connected to another user",
            Self::LastSignInMethod => {
                "This is your only way to sign in: set a password or connect another account first"
            }
        }
    }
}

/// The body of `POST /auth/sign-up` (JSON or form fields of the same names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignUpRequest {
    /// The address to sign up with.
    pub email: String,
    /// The password, as typed.
    pub password: String,
    /// Display name (optional).
    #[serde(default)]
    pub name: String,
    /// Same-origin path to go to afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// The body of `POST /auth/sign-in`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInRequest {
    /// The account's address.
    pub email: String,
    /// The password, as typed.
    pub password: String,
    /// Same-origin path to go to afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// The body of `POST /auth/sign-out` and `/auth/sign-out-all` (may be empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignOutRequest {
    /// Same-origin path to go to afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// The body of the posts that take only an address: `/auth/password-reset`,
/// `/auth/verify-email/resend`, `/auth/email-code`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailRequest {
    /// The address.
    pub email: String,
    /// Same-origin path to go to afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// The body of `POST /auth/verify-email`: the link's `token`, or the `code` with the `email` it
/// was sent to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyEmailRequest {
    /// The address the code was sent to (with `code`).
    #[serde(default)]
    pub email: String,
    /// The 8-digit code from the mail.
    #[serde(default)]
    pub code: String,
    /// The token from the mail's link.
    #[serde(default)]
    pub token: String,
    /// Same-origin path to go to afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// The body of `POST /auth/password-reset/confirm`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordResetConfirmRequest {
    /// The token from the mail's link.
    pub token: String,
    /// The new password (same policy as sign-up).
    pub new_password: String,
    /// Same-origin path to go to afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// The body of `POST /auth/password`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePasswordRequest {
    /// The password in use (a user created without one sends it empty).
    #[serde(default)]
    pub current_password: String,
    /// The new password (same policy as sign-up).
    pub new_password: String,
    /// Same-origin path to go to afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// The body of `POST /auth/email`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEmailRequest {
    /// The new address.
    pub email: String,
    /// The account's password (empty for an account without one: a provider's).
    #[serde(default)]
    pub password: String,
    /// Same-origin path to go to afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// The body of `POST /auth/account/delete`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordRequest {
    /// The account's password, re-entered (empty for an account without one).
    #[serde(default)]
    pub password: String,
    /// Same-origin path to go to afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// The body of `POST /auth/email-code/confirm`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailCodeConfirmRequest {
    /// The address the code was sent to.
    pub email: String,
    /// The 8-digit code from the mail.
    pub code: String,
    /// Same-origin path to go to afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// The JSON answer of the posts whose outcome is "we sent a mail (if the address is known)" and
/// of other settings posts without a session to return: `{"ok":true,"message":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedResponse {
    /// Always `true`.
    pub ok: bool,
    /// What happens next, for the user ("If an account exists for that address, …").
    pub message: String,
    /// Where a form should go next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// One active session of the signed-in user, in [`SessionsResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The session id (`sid`).
    pub id: String,
    /// A short device description from the user agent ("Chrome on Linux").
    pub device: String,
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// Last recorded activity (Unix seconds, minute resolution).
    pub last_active_at: i64,
    /// Whether this is the session making the request.
    pub current: bool,
}

/// The JSON answer of `GET /auth/sessions`: newest activity first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsResponse {
    /// The active (not revoked, not expired) sessions.
    pub sessions: Vec<SessionInfo>,
}

/// A body that only says where to go next: `POST /auth/identities/{provider}/unlink`, and the
/// link start `POST /auth/oauth/{provider}/link`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectRequest {
    /// Same-origin path to go to afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// A sign-in provider the app offers (`AUTH_OAUTH_PROVIDERS`): one "Continue with …" button.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SocialProvider {
    /// The id in paths and settings (`google`, `github`, `acme`).
    pub id: String,
    /// The label ("Google", or `AUTH_OAUTH_<NAME>_NAME`).
    pub name: String,
}

/// One provider account connected to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedIdentity {
    /// The provider's id (`google`).
    pub provider: String,
    /// The provider's label ("Google").
    pub provider_name: String,
    /// The account's address at the provider, when it gave one.
    #[serde(default)]
    pub email: Option<String>,
    /// When it was connected (Unix seconds).
    pub created_at: i64,
}

/// The JSON answer of `GET /auth/identities`: what the profile's "Connected accounts" shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionsResponse {
    /// The connected provider accounts, oldest first.
    pub identities: Vec<LinkedIdentity>,
    /// Every enabled provider (connected or not).
    pub providers: Vec<SocialProvider>,
    /// Whether the account has a password (a user created by a provider has none until set).
    pub has_password: bool,
}

/// The JSON answer of `GET /auth/session`, and of a JSON sign-in or sign-up (which also carries
/// `redirect_url`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionResponse {
    /// The verified session state.
    pub auth: AuthState,
    /// The public user, when signed in.
    #[serde(default)]
    pub user: Option<User>,
    /// Where a signed-in form should go next (sign-in and sign-up only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
}

/// The JSON answer of `GET /auth/token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// A session JWT valid for at least a few more seconds.
    pub token: String,
    /// Its `exp` (seconds since the epoch).
    pub expires_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_is_unique() {
        for e in FormError::ALL {
            assert_eq!(FormError::from_code(e.code()), Some(e));
        }
        let mut codes: Vec<_> = FormError::ALL.iter().map(|e| e.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), FormError::ALL.len());
        assert_eq!(FormError::from_code("nope"), None);
        let mut messages: Vec<_> = FormError::ALL.iter().map(|e| e.message()).collect();
        messages.sort_unstable();
        messages.dedup();
        assert_eq!(
            messages.len(),
            FormError::ALL.len(),
            "messages identify their codes"
        );
    }

    #[test]
    fn sign_in_body_accepts_a_missing_redirect() {
        let r: SignInRequest = serde_json::from_str(r#"{"email":"a@b.c","password":"p"}"#).unwrap();
        assert_eq!(r.redirect_url, None);
    }
}
