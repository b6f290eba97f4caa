//! The profile's sign-in methods: the password section and "Connected accounts" (the provider
//! accounts linked to the user: disconnect one, connect another). Both depend on one value,
//! `ConnectionsResponse` (`SessionBackend::connections`), server-rendered so the forms work
//! before the wasm loads, hydrated from the same value, and reloaded by the browser after a
//! change or when the page was not server-rendered (`GET /auth/identities`).

use super::fields::{ErrorLine, StatusLine, use_submission};
use super::forms::error_message;
use super::request;
use super::settings::ChangePassword;
use crate::seed::use_seed;
use crate::server::load_connections;
use auth_types::contract::{
    ConnectionsResponse, FormError, LinkedIdentity, RedirectRequest, SocialProvider, paths,
};
use dioxus::prelude::*;

/// Whether an `?error=` code belongs to "Connected accounts" (a failed connect or disconnect)
/// rather than to the top of the profile.
pub(crate) fn is_connection_error(code: &str) -> bool {
    matches!(
        FormError::from_code(code),
        Some(
            FormError::OAuthDenied
                | FormError::OAuthState
                | FormError::OAuthFailed
                | FormError::OAuthUnavailable
                | FormError::OAuthUnverifiedEmail
                | FormError::AccountExists
                | FormError::IdentityTaken
                | FormError::LastSignInMethod
        )
    )
}

/// The password section and "Connected accounts", from one server-rendered
/// `ConnectionsResponse`. `error` is a connect or disconnect failure's `?error=` code.
#[component]
pub(crate) fn SignInMethods(
    return_url: String,
    error: Option<String>,
    children: Element,
) -> Element {
    let seeded = use_seed::<ConnectionsResponse>(|request| Box::pin(load_connections(request)))?;
    rsx! {
        Methods { return_url, error, seeded, {children} }
    }
}

/// Whether the signed-in account has a password, for the sections inside [`SignInMethods`] that
/// ask for it again (change email, delete account): an account created by a provider has
/// none, and its session is all it can confirm with (the server accepts an empty password
/// then). `true` while unknown or outside `SignInMethods`.
pub(crate) fn use_has_password() -> bool {
    try_use_context::<Connections>().is_none_or(|c| c.has_password())
}

/// The connections as the browser knows them: `None` until loaded, `Err` when loading failed.
#[derive(Clone, Copy, PartialEq)]
struct Connections {
    data: Signal<Option<Result<ConnectionsResponse, String>>>,
    version: Signal<u32>,
}

impl Connections {
    /// Whether the account has a password; assumed while unknown (the form then asks for the
    /// current one, which the server checks anyway).
    fn has_password(self) -> bool {
        match &*self.data.read() {
            Some(Ok(connections)) => connections.has_password,
            _ => true,
        }
    }

    /// Loads them again (after a change).
    fn reload(mut self) {
        self.version += 1;
    }
}

#[component]
fn Methods(
    return_url: String,
    error: Option<String>,
    seeded: Option<ConnectionsResponse>,
    children: Element,
) -> Element {
    let server_rendered = seeded.is_some();
    let mut data = use_signal(move || seeded.map(Ok::<_, String>));
    let version = use_signal(|| 0_u32);
    let connections = use_context_provider(|| Connections { data, version });
    use_effect(move || {
        // The server's value is current on the first render; later versions are reloads.
        if version() == 0 && server_rendered {
            return;
        }
        spawn(async move {
            let loaded = request::get::<ConnectionsResponse>(paths::IDENTITIES).await;
            data.set(Some(loaded));
        });
    });

    rsx! {
        ChangePassword {
            return_url: return_url.clone(),
            has_password: connections.has_password(),
            on_changed: move |()| connections.reload(),
        }
        ConnectedAccounts { return_url, error, connections }
        {children}
    }
}

/// "Connected accounts": each linked provider account with "Disconnect" (`POST
/// /auth/identities/{provider}/unlink`; not offered when it is the last way to sign in), and
/// "Connect {name}" per enabled provider not yet connected (`POST /auth/oauth/{provider}/link`,
/// a plain form post: the browser goes to the provider and comes back to `return_url`). Nothing
/// when no provider is enabled and nothing is linked.
#[component]
fn ConnectedAccounts(
    return_url: String,
    error: Option<String>,
    connections: Connections,
) -> Element {
    let p = "auth-connections";
    let form = use_submission(p, move || {
        error.as_deref().map(|code| error_message(code).to_owned())
    });
    let mut status = use_signal(|| None::<String>);
    let pending = form.pending();

    let redirect = return_url.clone();
    let disconnect = use_callback(move |(provider, name): (String, String)| {
        if !form.start() {
            return;
        }
        status.set(None);
        let body = RedirectRequest {
            redirect_url: Some(redirect.clone()),
        };
        spawn(async move {
            let path = paths::with_provider(paths::IDENTITY_UNLINK, &provider);
            if form.finish(request::post(&path, &body).await).is_some() {
                status.set(Some(format!("Disconnected {name}.")));
            }
            connections.reload();
        });
    });

    // Not loaded (or it failed, e.g. a backend without connected accounts): only a message
    // that came with the page is worth a section.
    let current = match &*connections.data.read() {
        Some(Ok(current)) => Some(current.clone()),
        _ => None,
    };
    let has_message = form.error().is_some() || status().is_some();
    let Some(current) =
        current.filter(|c| has_message || !c.identities.is_empty() || !c.providers.is_empty())
    else {
        if !has_message {
            return rsx! {};
        }
        return rsx! {
            section { id: "auth-connections", class: "auth-section", "aria-labelledby": "auth-connections-title",
                h3 { id: "auth-connections-title", class: "auth-subtitle", "Connected accounts" }
                ErrorLine { prefix: p, message: form.error() }
                StatusLine { prefix: p, message: status() }
            }
        };
    };

    // Disconnecting the only provider of an account without a password would lock it out.
    let last_way_in = !current.has_password && current.identities.len() == 1;
    let unconnected: Vec<SocialProvider> = current
        .providers
        .iter()
        .filter(|provider| !current.identities.iter().any(|i| i.provider == provider.id))
        .cloned()
        .collect();

    rsx! {
        section { id: "auth-connections", class: "auth-section", "aria-labelledby": "auth-connections-title",
            h3 { id: "auth-connections-title", class: "auth-subtitle", "Connected accounts" }
            ErrorLine { prefix: p, message: form.error() }
            StatusLine { prefix: p, message: status() }
            if current.identities.is_empty() {
                p { id: "auth-connections-none", class: "auth-muted", "No account connected yet." }
            } else {
                ul { id: "auth-connections-list", class: "auth-connection-list",
                    for identity in current.identities {
                        IdentityRow {
                            key: "{identity.provider}",
                            identity: identity.clone(),
                            return_url: return_url.clone(),
                            last_way_in,
                            pending,
                            on_disconnect: disconnect,
                        }
                    }
                }
            }
            for provider in unconnected {
                form {
                    key: "{provider.id}",
                    class: "auth-connect",
                    "data-connect": "{provider.id}",
                    method: "post",
                    action: paths::with_provider(paths::OAUTH_LINK, &provider.id),
                    input { r#type: "hidden", name: "redirect_url", value: "{return_url}" }
                    button {
                        class: "auth-button auth-button-quiet auth-button-small",
                        r#type: "submit",
                        disabled: pending,
                        "Connect {provider.name}"
                    }
                }
            }
        }
    }
}

#[component]
fn IdentityRow(
    identity: LinkedIdentity,
    return_url: String,
    last_way_in: bool,
    pending: bool,
    on_disconnect: EventHandler<(String, String)>,
) -> Element {
    let action = paths::with_provider(paths::IDENTITY_UNLINK, &identity.provider);
    let (provider, name) = (identity.provider.clone(), identity.provider_name.clone());
    rsx! {
        li { class: "auth-connection", "data-provider": "{identity.provider}",
            div {
                p { class: "auth-strong", "{identity.provider_name}" }
                if let Some(email) = &identity.email {
                    p { class: "auth-muted", "{email}" }
                }
            }
            if last_way_in {
                p { class: "auth-muted auth-connection-note",
                    "Your only way to sign in: set a password before disconnecting it."
                }
            } else {
                form {
                    "data-disconnect": "{identity.provider}",
                    method: "post",
                    action: "{action}",
                    onsubmit: move |evt: FormEvent| {
                        evt.prevent_default();
                        on_disconnect.call((provider.clone(), name.clone()));
                    },
                    input { r#type: "hidden", name: "redirect_url", value: "{return_url}" }
                    button {
                        class: "auth-button auth-button-secondary auth-button-small",
                        r#type: "submit",
                        disabled: pending,
                        "aria-label": "Disconnect {identity.provider_name}",
                        "Disconnect"
                    }
                }
            }
        }
    }
}
