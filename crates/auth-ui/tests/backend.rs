//! Server-side rendering against a `SessionBackend`, handed to SSR the way a request gets it: the
//! auth layer stores it in the request, and Dioxus renders inside that request's
//! `FullstackContext`. Covers what the backend decides: the sign-in providers of `SignIn` and
//! `SignUp`, and the profile's password and "Connected accounts" sections.

use auth_server::{
    AuthConfig, AuthContext, AuthLayer, BackendError, BoxFuture, Renewed, SessionBackend,
    SessionCookies, Verifier,
};
use auth_types::contract::{ConnectionsResponse, LinkedIdentity, SocialProvider};
use auth_types::{AuthState, SessionClaims, User, UserId};
use auth_ui::{AuthProvider, AuthSnapshot, SignIn, SignUp, UserProfile};
use dioxus::fullstack::FullstackContext;
use dioxus::prelude::*;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

const ADA: &str = "user_ada";

/// A user store with fixed sign-in providers and, for Ada only, fixed connections.
struct TestBackend {
    providers: Vec<SocialProvider>,
    connections: ConnectionsResponse,
}

impl SessionBackend for TestBackend {
    fn refresh<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<Renewed>, BackendError>> {
        Box::pin(async { Ok(None) })
    }

    fn user<'a>(&'a self, _: &'a UserId) -> BoxFuture<'a, Result<Option<User>, BackendError>> {
        Box::pin(async { Ok(None) })
    }

    fn set_name<'a>(
        &'a self,
        _: &'a UserId,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Option<User>, BackendError>> {
        Box::pin(async { Ok(None) })
    }

    fn social_providers(&self) -> Vec<SocialProvider> {
        self.providers.clone()
    }

    fn connections<'a>(
        &'a self,
        id: &'a UserId,
    ) -> BoxFuture<'a, Result<ConnectionsResponse, BackendError>> {
        // Anyone but the signed-in user gets nothing: the page must ask for the right one.
        let answer = if id.as_str() == ADA {
            self.connections.clone()
        } else {
            ConnectionsResponse {
                has_password: true,
                ..ConnectionsResponse::default()
            }
        };
        Box::pin(async move { Ok(answer) })
    }
}

fn provider(id: &str, name: &str) -> SocialProvider {
    SocialProvider {
        id: id.into(),
        name: name.into(),
    }
}

fn google_and_acme() -> Vec<SocialProvider> {
    vec![provider("google", "Google"), provider("acme", "Acme SSO")]
}

fn identity(provider: &str, name: &str, email: &str) -> LinkedIdentity {
    LinkedIdentity {
        provider: provider.into(),
        provider_name: name.into(),
        email: Some(email.into()),
        created_at: 1_700_000_000,
    }
}

fn backend(
    providers: Vec<SocialProvider>,
    identities: Vec<LinkedIdentity>,
    has_password: bool,
) -> Arc<dyn SessionBackend> {
    Arc::new(TestBackend {
        providers: providers.clone(),
        connections: ConnectionsResponse {
            identities,
            providers,
            has_password,
        },
    })
}

fn ada_claims() -> SessionClaims {
    serde_json::from_value(serde_json::json!({
        "sub": ADA, "sid": "sess_1", "iss": "https://issuer.example", "exp": 4_000_000_000_i64,
    }))
    .expect("valid claims")
}

fn ada_snapshot() -> AuthSnapshot {
    let auth = AuthContext::from_claims(ada_claims()).state().clone();
    AuthSnapshot::new(
        auth,
        Some(User {
            id: UserId::new(ADA),
            email: "ada@example.com".into(),
            email_verified: true,
            name: "Ada Lovelace".into(),
            image_url: None,
            created_at: 1_700_000_000,
            public_metadata: serde_json::Value::Null,
            roles: vec![],
        }),
    )
}

/// The request as the auth layer (with `backend`) hands it on; signed in as Ada when
/// `signed_in` (the claims a verified token would have given).
async fn request_through_layer(
    backend: Arc<dyn SessionBackend>,
    signed_in: bool,
) -> http::request::Parts {
    let verifier = Verifier::from_config(
        &AuthConfig::jwks("https://issuer.example").with_audiences(["test-app"]),
    )
    .expect("a verifier for a test issuer");
    let layer = AuthLayer::new(verifier).with_backend(backend, SessionCookies::new(false));
    let seen = Arc::new(Mutex::new(None));
    let keep = seen.clone();
    let app = tower::service_fn(move |request: http::Request<()>| {
        let keep = keep.clone();
        async move {
            *keep.lock().expect("not poisoned") = Some(request.into_parts().0);
            Ok::<_, std::convert::Infallible>(http::Response::new(()))
        }
    });
    let request = http::Request::get("/page").body(()).expect("a request");
    tower::Layer::layer(&layer, app)
        .oneshot(request)
        .await
        .expect("the layer answers");
    let mut parts = seen
        .lock()
        .expect("not poisoned")
        .take()
        .expect("the app saw the request");
    if signed_in {
        let ctx = AuthContext::from_claims(ada_claims());
        parts.extensions.insert::<AuthState>(ctx.state().clone());
        parts.extensions.insert(ctx);
    }
    parts
}

/// Renders `body` under an `AuthProvider` seeded with `$snapshot`, inside the request `$parts`
/// (the server futures resolve from it, as in a real page render).
macro_rules! render {
    ($parts:expr, $snapshot:expr, { $($body:tt)* }) => {{
        fn root(snapshot: AuthSnapshot) -> Element {
            rsx! {
                AuthProvider { initial: snapshot, $($body)* }
            }
        }
        let mut dom = VirtualDom::new_with_props(root, $snapshot)
            .with_root_context(FullstackContext::new($parts));
        dom.rebuild_in_place();
        dom.wait_for_suspense().await;
        dioxus_ssr::render(&dom)
    }};
}

fn assert_all(html: &str, needles: &[&str]) {
    for needle in needles {
        assert!(html.contains(needle), "{needle} missing: {html}");
    }
}

#[tokio::test]
async fn sign_in_links_to_each_provider_with_the_redirect() {
    let parts = request_through_layer(backend(google_and_acme(), vec![], true), false).await;
    let html = render!(parts, AuthSnapshot::signed_out(), {
        SignIn {
            redirect_url: "/dashboard?tab=1".to_string(),
        }
    });
    assert_all(
        &html,
        &[
            r#"<a class="auth-button auth-social" data-provider="google" href="/auth/oauth/google?redirect_url=%2Fdashboard%3Ftab%3D1">Continue with Google</a>"#,
            r#"<a class="auth-button auth-social" data-provider="acme" href="/auth/oauth/acme?redirect_url=%2Fdashboard%3Ftab%3D1">Continue with Acme SSO</a>"#,
            r#"class="auth-divider""#,
        ],
    );
    // Above the email form.
    let social = html.find("auth-social").expect("a provider link");
    let email = html.find(r#"id="sign-in-email""#).expect("the email field");
    assert!(social < email, "{html}");
}

#[tokio::test]
async fn sign_up_has_the_same_links_and_social_false_hides_them() {
    let parts = request_through_layer(backend(google_and_acme(), vec![], true), false).await;
    let html = render!(parts, AuthSnapshot::signed_out(), { SignUp {} });
    assert_all(
        &html,
        &[
            r#"data-provider="google" href="/auth/oauth/google?redirect_url=%2F""#,
            "Continue with Acme SSO",
            r#"action="/auth/sign-up""#,
        ],
    );

    let parts = request_through_layer(backend(google_and_acme(), vec![], true), false).await;
    let html = render!(parts, AuthSnapshot::signed_out(), {
        SignIn { social: false }
    });
    assert!(!html.contains("auth-social"), "{html}");
    assert!(html.contains(r#"action="/auth/sign-in""#), "{html}");
}

#[tokio::test]
async fn no_provider_no_links() {
    let parts = request_through_layer(backend(vec![], vec![], true), false).await;
    let html = render!(parts, AuthSnapshot::signed_out(), { SignIn {} });
    assert!(html.contains(r#"action="/auth/sign-in""#), "{html}");
    for needle in ["auth-social", "Continue with", "auth-divider"] {
        assert!(!html.contains(needle), "{needle} present: {html}");
    }
}

#[tokio::test]
async fn the_last_way_in_cannot_be_disconnected_and_the_password_is_set_not_changed() {
    let identities = vec![identity("google", "Google", "ada@gmail.com")];
    let parts = request_through_layer(backend(google_and_acme(), identities, false), true).await;
    let html = render!(parts, ada_snapshot(), { UserProfile {} });
    assert_all(
        &html,
        &[
            r#"id="auth-connections""#,
            "Connected accounts",
            r#"data-provider="google""#,
            "ada@gmail.com",
            "Your only way to sign in",
            // The other provider can be connected, coming back to the profile.
            r#"data-connect="acme" method="post" action="/auth/oauth/acme/link""#,
            "Connect Acme SSO",
            // No password yet: set one, without the current one.
            "Set a password",
            r#"for="auth-password-new""#,
        ],
    );
    assert!(!html.contains("data-disconnect"), "{html}");
    assert!(
        !html.contains(r#"data-connect="google""#),
        "connected: {html}"
    );
    assert!(!html.contains("auth-password-current"), "{html}");
    assert!(!html.contains(r#"name="current_password""#), "{html}");
    assert!(!html.contains("Change password"), "{html}");
    // Changing the address and deleting the account ask for no password it does not have.
    assert_all(
        &html,
        &[r#"id="auth-email-form""#, r#"id="auth-delete-form""#],
    );
    assert!(!html.contains(r#"id="auth-email-password""#), "{html}");
    assert!(!html.contains(r#"id="auth-delete-password""#), "{html}");
}

#[tokio::test]
async fn another_way_in_allows_disconnecting() {
    // Two providers and no password: either can go.
    let identities = vec![
        identity("google", "Google", "ada@gmail.com"),
        identity("acme", "Acme SSO", "ada@acme.example"),
    ];
    let parts = request_through_layer(backend(google_and_acme(), identities, false), true).await;
    let html = render!(parts, ada_snapshot(), { UserProfile {} });
    assert_all(
        &html,
        &[
            r#"data-disconnect="google" method="post" action="/auth/identities/google/unlink""#,
            r#"data-disconnect="acme" method="post" action="/auth/identities/acme/unlink""#,
        ],
    );
    assert!(!html.contains("data-connect"), "all connected: {html}");
    assert!(!html.contains("Your only way to sign in"), "{html}");

    // One provider and a password: it can go, and the password is changed, not set.
    let identities = vec![identity("google", "Google", "ada@gmail.com")];
    let parts = request_through_layer(backend(google_and_acme(), identities, true), true).await;
    let html = render!(parts, ada_snapshot(), {
        UserProfile {
            return_url: "/account".to_string(),
        }
    });
    assert_all(
        &html,
        &[
            r#"data-disconnect="google""#,
            r#"type="hidden" name="redirect_url" value="/account""#,
            "Change password",
            r#"name="current_password""#,
            r#"id="auth-email-password""#,
            r#"id="auth-delete-password""#,
        ],
    );
    assert!(!html.contains("Set a password"), "{html}");
}

#[tokio::test]
async fn connections_are_hidden_without_providers_and_show_their_errors() {
    let parts = request_through_layer(backend(vec![], vec![], true), true).await;
    let html = render!(parts, ada_snapshot(), { UserProfile {} });
    assert!(!html.contains("auth-connections"), "{html}");
    assert!(html.contains("Change password"), "{html}");

    // A failed connect comes back with `?error=`: shown in the section, not at the top.
    let parts = request_through_layer(backend(google_and_acme(), vec![], true), true).await;
    let html = render!(parts, ada_snapshot(), {
        UserProfile {
            error: "identity_taken".to_string(),
        }
    });
    let message = "This provider account is already connected to another user";
    let section = html.find(r#"id="auth-connections""#).expect("the section");
    let shown = html.find(message).expect("the message");
    assert!(shown > section, "{html}");
    assert_eq!(html.matches(message).count(), 1, "{html}");
    assert_all(
        &html,
        &[r#"data-connect="google""#, r#"data-connect="acme""#],
    );
}
