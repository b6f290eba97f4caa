//! Server half: the snapshot SSR seeds the page with, and the profile server function.

use crate::state::AuthSnapshot;
use auth_types::User;
use dioxus::prelude::*;

/// The current request, captured while rendering so the server future can read it.
#[derive(Clone, Debug)]
pub(crate) struct RequestHandle(
    #[cfg(feature = "server")] Option<dioxus::fullstack::FullstackContext>,
);

impl RequestHandle {
    pub(crate) fn current() -> Self {
        Self(
            #[cfg(feature = "server")]
            dioxus::fullstack::FullstackContext::current(),
        )
    }
}

/// The request's state as verified by the auth layer (no second verification) and the public
/// user from the embedded provider's store.
#[cfg(feature = "server")]
pub(crate) async fn load_snapshot(request: RequestHandle) -> AuthSnapshot {
    let Some(ctx) = request.0 else {
        return AuthSnapshot::signed_out();
    };
    let (auth, user) = ctx
        .scope(async {
            let auth = auth_server::current_auth_state();
            (auth, auth_server::current_user().await)
        })
        .await;
    AuthSnapshot::new(auth, user)
}

/// In the browser the value comes from the page; this only runs if it is missing.
#[cfg(not(feature = "server"))]
pub(crate) async fn load_snapshot(_request: RequestHandle) -> AuthSnapshot {
    crate::client::fetch_session()
        .await
        .unwrap_or_else(AuthSnapshot::signed_out)
}

/// Server function behind [`UserProfile`](crate::UserProfile): changes the signed-in user's
/// display name and returns the updated public user. 401 when signed out.
///
/// ```no_run
/// # async fn demo() {
/// let user = auth_ui::update_name("Ada Lovelace".into()).await;
/// # }
/// ```
#[post("/auth/ui/profile/name")]
pub async fn update_name(name: String) -> Result<User, ServerFnError> {
    let auth = auth_server::current_auth();
    let Some(user_id) = auth.state().user_id().cloned() else {
        return Err(ServerFnError::ServerError {
            message: "Unauthorized".into(),
            code: 401,
            details: None,
        });
    };
    let Some(idp) = dioxus::fullstack::FullstackContext::current()
        .and_then(|ctx| ctx.extension::<auth_server::idp::Idp>())
    else {
        return Err(ServerFnError::ServerError {
            message: "Service unavailable".into(),
            code: 503,
            details: None,
        });
    };
    let name = name.trim().to_owned();
    if name.is_empty() {
        return Err(ServerFnError::ServerError {
            message: "Name must not be empty".into(),
            code: 422,
            details: None,
        });
    }
    let update = auth_server::idp::UserUpdate {
        name: Some(name),
        ..Default::default()
    };
    match idp.users().update(&user_id, update).await {
        Ok(Some(record)) => Ok(record.user),
        Ok(None) => Err(ServerFnError::ServerError {
            message: "Not found".into(),
            code: 404,
            details: None,
        }),
        Err(e) => Err(ServerFnError::ServerError {
            message: e.to_string(),
            code: 422,
            details: None,
        }),
    }
}
