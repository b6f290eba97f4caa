//! Server-side rendering of every component with a signed-in and a signed-out state
//! (dioxus-ssr, no server, no browser).

use auth_types::{AuthState, Check, SessionId, SignedIn as SignedInState, User, UserId};
use auth_ui::{
    AuthLoaded, AuthLoading, AuthProvider, AuthSnapshot, ForgotPassword, Protect, RedirectToSignIn,
    ResetPassword, SignIn, SignUp, SignedIn, SignedOut, UserButton, UserProfile, VerifyEmail,
    use_auth, use_session, use_user,
};
use dioxus::prelude::*;

fn ada(roles: &[&str]) -> AuthSnapshot {
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    AuthSnapshot::new(
        AuthState::SignedIn(SignedInState {
            user_id: UserId::new("user_ada"),
            session_id: Some(SessionId::new("sess_1")),
            roles: roles.clone(),
            permissions: if roles.iter().any(|r| r == "admin") {
                vec!["users:write".into()]
            } else {
                vec![]
            },
            expires_at: 4_000_000_000,
            email_verified: false,
        }),
        Some(User {
            email_verified: false,
            id: UserId::new("user_ada"),
            email: "ada@example.com".into(),
            name: "Ada Lovelace".into(),
            image_url: None,
            created_at: 1_700_000_000,
            public_metadata: serde_json::Value::Null,
            roles,
        }),
    )
}

fn signed_out() -> Option<AuthSnapshot> {
    Some(AuthSnapshot::signed_out())
}

/// Renders `body` under an `AuthProvider` seeded with `snapshot`.
macro_rules! render {
    ($snapshot:expr, { $($body:tt)* }) => {{
        fn root(snapshot: Option<AuthSnapshot>) -> Element {
            rsx! {
                AuthProvider { initial: snapshot, $($body)* }
            }
        }
        let mut dom = VirtualDom::new_with_props(root, $snapshot);
        dom.rebuild_in_place();
        dioxus_ssr::render(&dom)
    }};
}

#[test]
fn signed_in_and_signed_out_follow_the_state() {
    let html = render!(Some(ada(&[])), {
        SignedIn { p { "in-content" } }
        SignedOut { p { "out-content" } }
    });
    assert!(html.contains("in-content"), "{html}");
    assert!(!html.contains("out-content"), "{html}");

    let html = render!(signed_out(), {
        SignedIn { p { "in-content" } }
        SignedOut { p { "out-content" } }
    });
    assert!(!html.contains("in-content"), "{html}");
    assert!(html.contains("out-content"), "{html}");
}

#[test]
fn protect_checks_roles_and_permissions_and_shows_the_fallback() {
    fn page(snapshot: Option<AuthSnapshot>) -> String {
        render!(snapshot, {
            Protect { role: "admin", fallback: rsx! { p { "role-fallback" } }, p { "role-ok" } }
            Protect { permission: "users:write", p { "perm-ok" } }
            Protect { check: Check::role("owner"), fallback: rsx! { p { "owner-fallback" } }, p { "owner-ok" } }
            Protect { condition: move |auth: auth_ui::Auth| auth.roles().len() == 1, p { "cond-ok" } }
            Protect { p { "any-session" } }
        })
    }
    let admin = page(Some(ada(&["admin"])));
    for needle in [
        "role-ok",
        "perm-ok",
        "owner-fallback",
        "cond-ok",
        "any-session",
    ] {
        assert!(admin.contains(needle), "{needle} missing: {admin}");
    }
    for needle in ["role-fallback", "owner-ok"] {
        assert!(!admin.contains(needle), "{needle} present: {admin}");
    }

    let member = page(Some(ada(&["member"])));
    assert!(
        member.contains("role-fallback") && !member.contains("role-ok"),
        "{member}"
    );
    assert!(!member.contains("perm-ok"), "{member}");
    assert!(member.contains("any-session"), "{member}");

    let out = page(signed_out());
    for needle in ["role-ok", "perm-ok", "owner-ok", "cond-ok", "any-session"] {
        assert!(
            !out.contains(needle),
            "{needle} present when signed out: {out}"
        );
    }
    assert!(
        out.contains("role-fallback") && out.contains("owner-fallback"),
        "{out}"
    );
}

#[component]
fn HookProbe() -> Element {
    let auth = use_auth();
    let user = use_user();
    let session = use_session();
    let name = user.user.map(|u| u.name).unwrap_or_default();
    let uid = auth.user_id().map(|u| u.to_string()).unwrap_or_default();
    let sid = session
        .session_id
        .map(|s| s.to_string())
        .unwrap_or_default();
    let admin = auth.has(&Check::role("admin"));
    rsx! {
        p { "signed_in={auth.is_signed_in()} loaded={auth.is_loaded()} user={uid} session={sid} name={name} admin={admin}" }
    }
}

#[test]
fn hooks_read_the_seeded_state() {
    let html = render!(Some(ada(&["admin"])), { HookProbe {} });
    assert!(
        html.contains(
            "signed_in=true loaded=true user=user_ada session=sess_1 name=Ada Lovelace admin=true"
        ),
        "{html}"
    );
    let html = render!(signed_out(), { HookProbe {} });
    assert!(
        html.contains("signed_in=false loaded=true user= session= name= admin=false"),
        "{html}"
    );
}

#[test]
fn hooks_outside_the_provider_say_to_add_it() {
    // Dioxus catches a component's panic (it becomes an error), so record the panic message.
    static MESSAGES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        MESSAGES.lock().unwrap().push(info.to_string());
    }));
    fn root() -> Element {
        rsx! { HookProbe {} }
    }
    let mut dom = VirtualDom::new(root);
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dom.rebuild_in_place()));
    std::panic::set_hook(previous);
    let messages = MESSAGES.lock().unwrap();
    assert!(
        messages.iter().any(
            |m| m.contains("use_auth() was called outside an AuthProvider")
                && m.contains("auth_ui::AuthProvider")
        ),
        "{messages:#?}"
    );
}

#[test]
fn loading_components_render_once_loaded() {
    let html = render!(signed_out(), {
        AuthLoading { "still-loading" }
        AuthLoaded { "loaded-now" }
    });
    assert!(
        html.contains("loaded-now") && !html.contains("still-loading"),
        "{html}"
    );
}

#[test]
fn user_button_shows_initials_with_a_closed_menu_and_nothing_when_signed_out() {
    let html = render!(Some(ada(&[])), { UserButton {} });
    assert!(html.contains(">AL</button>"), "{html}");
    assert!(html.contains(r#"aria-expanded="false""#), "{html}");
    assert!(html.contains(r#"aria-haspopup="menu""#), "{html}");
    assert!(html.contains("Ada Lovelace"), "accessible name: {html}");
    assert!(
        !html.contains("auth-user-menu\" class"),
        "menu closed: {html}"
    );

    let html = render!(signed_out(), { UserButton {} });
    assert!(!html.contains("auth-avatar"), "{html}");
}

#[test]
fn sign_in_form_posts_without_wasm_and_is_accessible() {
    let html = render!(signed_out(), {
        SignIn {
            redirect_url: "/dashboard".to_string(),
            error: "invalid_credentials".to_string(),
        }
    });
    for needle in [
        r#"method="post""#,
        r#"action="/auth/sign-in""#,
        r#"for="sign-in-email""#,
        r#"id="sign-in-email""#,
        r#"autocomplete="email""#,
        r#"autocomplete="current-password""#,
        r#"name="redirect_url""#,
        r#"value="/dashboard""#,
        r#"aria-live="assertive""#,
        "Invalid email or password",
        r#"href="/sign-up""#,
    ] {
        assert!(html.contains(needle), "{needle} missing: {html}");
    }
    assert!(!html.contains("new-password"), "{html}");
}

#[test]
fn sign_up_form_asks_for_a_name_and_a_new_password() {
    let html = render!(signed_out(), { SignUp {} });
    for needle in [
        r#"action="/auth/sign-up""#,
        r#"for="sign-up-name""#,
        r#"autocomplete="name""#,
        r#"autocomplete="new-password""#,
        r#"value="/""#,
        r#"href="/sign-in""#,
    ] {
        assert!(html.contains(needle), "{needle} missing: {html}");
    }
    assert!(!html.contains("Invalid"), "no error without a code: {html}");
}

#[test]
fn user_profile_shows_the_user_or_asks_to_sign_in() {
    let html = render!(Some(ada(&[])), { UserProfile {} });
    for needle in [
        "Ada Lovelace",
        "ada@example.com",
        r#"value="Ada Lovelace""#,
        r#"action="/auth/sign-out-all""#,
        "Sign out of all sessions",
    ] {
        assert!(html.contains(needle), "{needle} missing: {html}");
    }
    let html = render!(signed_out(), { UserProfile {} });
    assert!(html.contains("Sign in to manage your account."), "{html}");
    assert!(!html.contains("sign-out-all"), "{html}");
}

#[test]
fn redirect_to_sign_in_renders_a_link_keeping_the_path() {
    let html = render!(signed_out(), { SignedOut { RedirectToSignIn {} } });
    assert!(
        html.contains(r#"href="/sign-in?redirect_url=%2F""#),
        "{html}"
    );
}

#[test]
fn snapshot_json_round_trips_for_hydration() {
    let snapshot = ada(&["admin"]);
    let json = serde_json::to_string(&snapshot).unwrap();
    assert!(json.contains(r#""status":"signed_in""#), "{json}");
    let back: AuthSnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snapshot);
    // A signed-out state never carries a user.
    let odd = AuthSnapshot::new(AuthState::SignedOut, ada(&[]).user);
    assert_eq!(odd, AuthSnapshot::signed_out());
}

fn assert_all(html: &str, needles: &[&str]) {
    for needle in needles {
        assert!(html.contains(needle), "{needle} missing: {html}");
    }
}

#[test]
fn sign_in_links_to_the_reset_flow_and_offers_a_code_when_enabled() {
    let html = render!(signed_out(), { SignIn {} });
    assert_all(
        &html,
        &[
            r#"id="sign-in-forgot""#,
            r#"href="/forgot-password""#,
            "Forgot password?",
        ],
    );
    assert!(!html.contains("Email me a code"), "off by default: {html}");

    let html = render!(signed_out(), { SignIn { email_code: true } });
    assert_all(
        &html,
        &[
            "Email me a code",
            r#"formaction="/auth/email-code""#,
            "formnovalidate",
        ],
    );
}

#[test]
fn a_held_back_sign_in_or_sign_up_asks_for_the_code_in_place() {
    // The provider's form answer in `required` mode: `?error=verification_required&email=…`.
    let html = render!(signed_out(), {
        SignIn {
            error: "verification_required".to_string(),
            email: "ada@example.com".to_string(),
            redirect_url: "/dashboard".to_string(),
        }
    });
    assert_all(
        &html,
        &[
            r#"action="/auth/verify-email""#,
            r#"for="sign-in-code""#,
            r#"autocomplete="one-time-code""#,
            r#"inputmode="numeric""#,
            r#"name="email""#,
            r#"value="ada@example.com""#,
            r#"value="/dashboard""#,
            r#"formaction="/auth/verify-email/resend""#,
            "Send a new code",
        ],
    );
    assert!(!html.contains(r#"action="/auth/sign-in""#), "{html}");

    let html = render!(signed_out(), {
        SignUp {
            error: "verification_required".to_string(),
            email: "ada@example.com".to_string(),
        }
    });
    assert_all(
        &html,
        &[r#"action="/auth/verify-email""#, r#"for="sign-up-code""#],
    );
    // Without the address the code step asks for it too.
    let html = render!(signed_out(), {
        SignUp {
            error: "verification_required".to_string(),
        }
    });
    assert_all(
        &html,
        &[
            r#"action="/auth/verify-email""#,
            r#"for="sign-up-code-email""#,
            r#"autocomplete="email""#,
        ],
    );
    assert!(!html.contains(r#"action="/auth/sign-up""#), "{html}");
}

#[test]
fn forgot_password_posts_an_email_and_then_shows_a_neutral_message() {
    let html = render!(signed_out(), { ForgotPassword {} });
    assert_all(
        &html,
        &[
            r#"method="post""#,
            r#"action="/auth/password-reset""#,
            r#"for="forgot-password-email""#,
            r#"autocomplete="email""#,
            r#"name="redirect_url""#,
            r#"value="/forgot-password?sent=1""#,
            r#"href="/sign-in""#,
        ],
    );
    assert!(!html.contains("If an account exists"), "{html}");

    let html = render!(signed_out(), { ForgotPassword { sent: true } });
    assert_all(
        &html,
        &["If an account exists for that address", r#"role="status""#],
    );
    assert!(!html.contains("<form"), "{html}");

    let html = render!(signed_out(), {
        ForgotPassword {
            error: "rate_limited".to_string(),
        }
    });
    assert_all(&html, &["Too many attempts"]);
}

#[test]
fn reset_password_posts_the_token_with_a_new_password() {
    let html = render!(signed_out(), {
        ResetPassword {
            token: "tok_123".to_string(),
            redirect_url: "/dashboard".to_string(),
        }
    });
    assert_all(
        &html,
        &[
            r#"action="/auth/password-reset/confirm""#,
            r#"name="token""#,
            r#"value="tok_123""#,
            r#"for="reset-password-new""#,
            r#"name="new_password""#,
            r#"autocomplete="new-password""#,
            r#"value="/dashboard""#,
        ],
    );
    // No token (or the form came back with an error): the way to a new link.
    let html = render!(signed_out(), {
        ResetPassword {
            error: "invalid_token".to_string(),
        }
    });
    assert_all(
        &html,
        &[
            "This link is invalid or has expired",
            r#"href="/forgot-password""#,
        ],
    );
    assert!(!html.contains("new_password"), "{html}");
}

#[test]
fn verify_email_takes_a_link_token_or_an_email_and_a_code() {
    let html = render!(signed_out(), {
        VerifyEmail {
            token: "tok_9".to_string(),
        }
    });
    assert_all(
        &html,
        &[
            r#"action="/auth/verify-email""#,
            r#"name="token""#,
            r#"value="tok_9""#,
            "Verify my email address",
        ],
    );
    assert!(!html.contains("one-time-code"), "{html}");

    let html = render!(signed_out(), {
        VerifyEmail {
            email: "ada@example.com".to_string(),
        }
    });
    assert_all(
        &html,
        &[
            r#"for="verify-email-code""#,
            r#"autocomplete="one-time-code""#,
            r#"pattern="[0-9]{8}""#,
            r#"type="hidden" name="email" value="ada@example.com""#,
            r#"formaction="/auth/verify-email/resend""#,
        ],
    );

    let html = render!(signed_out(), {
        VerifyEmail {
            error: "code_locked".to_string(),
        }
    });
    assert_all(
        &html,
        &[
            r#"for="verify-email-code-email""#,
            r#"autocomplete="email""#,
            "Too many wrong codes",
        ],
    );
}

fn verified(mut snapshot: AuthSnapshot) -> AuthSnapshot {
    if let Some(user) = snapshot.user.as_mut() {
        user.email_verified = true;
    }
    snapshot
}

#[test]
fn user_profile_has_the_account_settings_sections() {
    let html = render!(Some(ada(&[])), {
        UserProfile {
            error: "wrong_password".to_string(),
        }
    });
    assert_all(
        &html,
        &[
            // Verification badge and the way to verify.
            "Not verified",
            r#"href="/verify-email?email=ada%40example.com""#,
            // Change password.
            r#"action="/auth/password""#,
            r#"for="auth-password-current""#,
            r#"name="current_password""#,
            r#"autocomplete="current-password""#,
            r#"for="auth-password-new""#,
            r#"autocomplete="new-password""#,
            // Change email.
            r#"action="/auth/email""#,
            r#"for="auth-email-new""#,
            r#"for="auth-email-password""#,
            // Sessions: loaded in the browser, so the server renders the same placeholder.
            "Active sessions",
            "Loading your sessions",
            r#"action="/auth/sessions/revoke-others""#,
            "Sign out all other devices",
            // Delete account.
            r#"action="/auth/account/delete""#,
            r#"for="auth-delete-password""#,
            r#"for="auth-delete-confirm""#,
            r#"type="checkbox""#,
            // Each form comes back to the profile page.
            r#"value="/profile""#,
            // A failed plain post's error.
            "The current password is wrong",
        ],
    );
    assert_eq!(html.matches(r#"method="post""#).count(), 5, "{html}");

    let html = render!(Some(verified(ada(&[]))), { UserProfile {} });
    assert_all(&html, &[r#"id="auth-profile-email-verified""#, "Verified"]);
    assert!(!html.contains("Not verified"), "{html}");
}

#[test]
fn every_form_error_code_has_a_message() {
    use auth_types::contract::FormError;
    for code in [
        FormError::InvalidCode,
        FormError::InvalidToken,
        FormError::CodeLocked,
        FormError::VerificationRequired,
        FormError::WrongPassword,
        FormError::Disabled,
        FormError::OAuthDenied,
        FormError::OAuthState,
        FormError::OAuthFailed,
        FormError::OAuthUnavailable,
        FormError::OAuthUnverifiedEmail,
        FormError::AccountExists,
        FormError::IdentityTaken,
        FormError::LastSignInMethod,
    ] {
        assert_eq!(auth_ui::error_message(code.code()), code.message());
    }
}

#[test]
fn a_failed_provider_sign_in_shows_its_message_on_the_form() {
    use auth_types::contract::FormError;
    let html = render!(signed_out(), {
        SignIn {
            error: "oauth_denied".to_string(),
            redirect_url: "/dashboard".to_string(),
        }
    });
    assert_all(
        &html,
        &[
            FormError::OAuthDenied.message(),
            r#"action="/auth/sign-in""#,
        ],
    );
    let html = render!(signed_out(), {
        SignIn {
            error: "account_exists".to_string(),
        }
    });
    assert_all(&html, &[FormError::AccountExists.message()]);
    let html = render!(signed_out(), {
        SignUp {
            error: "oauth_state".to_string(),
        }
    });
    assert_all(
        &html,
        &[FormError::OAuthState.message(), r#"action="/auth/sign-up""#],
    );
    // Unknown codes still show something (never a blank error line).
    let html = render!(signed_out(), {
        SignUp {
            error: "no_such_code".to_string(),
        }
    });
    assert_all(&html, &["Something went wrong, try again"]);
}

#[test]
fn without_a_backend_there_are_no_provider_links_but_a_connect_error_still_shows() {
    let html = render!(signed_out(), { SignIn {} });
    assert!(!html.contains("auth-social"), "{html}");

    let html = render!(Some(ada(&[])), {
        UserProfile {
            error: "last_sign_in_method".to_string(),
        }
    });
    let section = html
        .find(r#"id="auth-connections""#)
        .expect("the connections section carries the error");
    let message = html
        .find("This is your only way to sign in")
        .expect("the message");
    assert!(message > section, "{html}");
    // Nothing to list or connect without the backend's answer.
    assert!(!html.contains("data-connect"), "{html}");
    assert!(!html.contains("data-disconnect"), "{html}");
}
