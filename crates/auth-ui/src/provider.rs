//! [`AuthProvider`]: seeds the auth context from the server and keeps it live in the browser.

use crate::seed::use_seed;
use crate::server::load_snapshot;
use crate::state::AuthSnapshot;
use dioxus::prelude::*;

/// The context every hook reads. One per [`AuthProvider`].
#[derive(Clone, Copy)]
pub(crate) struct AuthHandle {
    pub(crate) snapshot: Signal<AuthSnapshot>,
}

impl std::fmt::Debug for AuthHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthHandle")
            .field("snapshot", &*self.snapshot.peek())
            .finish()
    }
}

/// Wrap your app once, inside or around the router. Every hook ([`use_auth`](crate::use_auth),
/// [`use_user`](crate::use_user)) and component of this crate must be under it.
///
/// During server-side rendering it reads the request's verified auth state
/// (`auth_server::current_auth_state()`, no second verification) and the public user, and
/// serialises them into the page with `use_server_future`; the wasm client hydrates from that
/// value, so its first render equals the server's. In the browser it then stays live: sign-in,
/// sign-up and sign-out update every hook without a reload, the session is renewed before it
/// expires, and a sign-out in one tab signs the other tabs out (`BroadcastChannel`).
///
/// `initial` skips the server lookup and starts from the given state (tests, previews).
///
/// ```no_run
/// use auth_ui::{AuthProvider, SignedIn};
/// use dioxus::prelude::*;
///
/// fn App() -> Element {
///     rsx! {
///         AuthProvider {
///             SignedIn { "Welcome back!" }
///         }
///     }
/// }
/// ```
#[component]
pub fn AuthProvider(children: Element, #[props(default)] initial: Option<AuthSnapshot>) -> Element {
    match initial {
        Some(snapshot) => rsx! {
            Seeded { snapshot, children }
        },
        None => rsx! {
            FromServer { children }
        },
    }
}

/// Suspends until the server's snapshot is known (on the server: the request's state; in the
/// browser: the value serialised into the page).
#[component]
fn FromServer(children: Element) -> Element {
    let snapshot = use_seed::<AuthSnapshot>(|request| Box::pin(load_snapshot(request)))?
        .map(|seeded| AuthSnapshot::new(seeded.auth, seeded.user))
        .unwrap_or_default();
    rsx! {
        Seeded { snapshot, children }
    }
}

#[component]
fn Seeded(snapshot: AuthSnapshot, children: Element) -> Element {
    let handle = use_context_provider(|| AuthHandle {
        snapshot: Signal::new(snapshot),
    });
    use_hook(move || background(handle));
    rsx! {
        {children}
    }
}

/// Browser only: cross-tab sync and session renewal.
#[cfg(target_arch = "wasm32")]
fn background(handle: AuthHandle) {
    use crate::client::{self, MSG_SIGNED_OUT};
    use futures::StreamExt;

    let mut snapshot = handle.snapshot;
    let (tx, mut rx) = futures::channel::mpsc::unbounded::<String>();
    client::listen(move |message| {
        let _ = tx.unbounded_send(message);
    });
    spawn(async move {
        while let Some(message) = rx.next().await {
            if message == MSG_SIGNED_OUT {
                if snapshot.peek().auth.is_signed_in() {
                    snapshot.set(AuthSnapshot::signed_out());
                }
            } else if let Some(fresh) = client::fetch_session().await
                && fresh != *snapshot.peek()
            {
                snapshot.set(fresh);
            }
        }
    });

    // Renew the session 15 s before the token expires (the server sets the new cookies on
    // `/auth/session`), and pick up changes made elsewhere (roles, revocation).
    spawn(async move {
        loop {
            let wait = match snapshot.peek().auth.signed_in() {
                Some(s) => (s.expires_at - client::now_secs() - 15).clamp(5, 600),
                None => 60,
            };
            gloo_timers::future::sleep(std::time::Duration::from_secs(wait as u64)).await;
            if !snapshot.peek().auth.is_signed_in() {
                continue;
            }
            if let Some(fresh) = client::fetch_session().await
                && fresh != *snapshot.peek()
            {
                if !fresh.auth.is_signed_in() {
                    client::broadcast(MSG_SIGNED_OUT);
                }
                snapshot.set(fresh);
            }
        }
    });
}

#[cfg(not(target_arch = "wasm32"))]
fn background(_handle: AuthHandle) {}
