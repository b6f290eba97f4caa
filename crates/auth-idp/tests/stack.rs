//! `AuthStack` end to end over real HTTP, on SQLite and PostgreSQL: the embedded provider's
//! routes, the auth layer and the extractors an app uses (`RequireAuth`, `CurrentUser`,
//! `UsersApi`), together as `AuthStack::apply` wires them.

mod idp_support;

use auth_idp::Idp;
use auth_idp::UsersApi;
use auth_server::{AuthConfig, CurrentUser, RequireAuth};
use axum::routing::{get, post};
use axum::{Json, Router};
use idp_support::{Jar, Kind, Renewal, Server, TestDb, config, listener, renew};
use serde_json::{Value, json};

both_backends!(
    extractors_follow_the_session,
    deleted_user_is_signed_out_for_current_user,
    app_routes_get_the_csrf_check,
    sign_in_cookies_win_over_a_stale_refresh_cookie,
    the_stack_purges_sessions_that_ended_long_ago,
    a_rotation_is_verified_at_once_by_its_own_instance,
);

/// An app with one route per extractor, wrapped by the stack; served like `Server`.
async fn start(db: &TestDb) -> Server {
    let (listener, base) = listener().await;
    let idp = Idp::connect(config(db, &base)).await.unwrap();
    let stack = idp.stack(AuthConfig::embedded()).unwrap();
    let app: Router = stack.apply(
        Router::new()
            .route(
                "/api/me",
                get(|a: RequireAuth| async move { a.user_id().to_string() }),
            )
            .route(
                "/api/user",
                get(|CurrentUser(u): CurrentUser| async move { Json(u) }),
            )
            .route(
                "/api/users",
                get(|UsersApi(users): UsersApi| async move {
                    Json(users.list(1, 10).await.unwrap().total)
                }),
            )
            .route("/api/posts", post(|_: RequireAuth| async { "created" })),
    );
    Server::serve_app(idp, listener, base, app)
}

async fn extractors_follow_the_session(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = start(&db).await;
    let mut jar = Jar::default();

    let r = s.get("/api/user", &mut jar).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body, json!({ "error": "Unauthorized" }));

    let up = s
        .sign_up("grace@example.com", "correct horse battery", &mut jar)
        .await;
    assert_eq!(up.status, 201, "{}", up.text);
    let id = up.body["user"]["id"].as_str().unwrap().to_owned();

    let me = s.get("/api/me", &mut jar).await;
    assert_eq!((me.status, me.text.as_str()), (200, id.as_str()));
    let user = s.get("/api/user", &mut jar).await;
    assert_eq!(user.status, 200, "{}", user.text);
    assert_eq!(user.body["email"], "grace@example.com");
    assert_eq!(user.body["id"], Value::String(id));
    assert!(
        user.body.get("private_metadata").is_none(),
        "private metadata leaked: {}",
        user.text
    );
    let total = s.get("/api/users", &mut jar).await;
    assert_eq!(total.body, json!(1));

    let out = s.post_json("/auth/sign-out", json!({}), &mut jar).await;
    assert_eq!(out.status, 200, "{}", out.text);
    assert_eq!(s.get("/api/user", &mut jar).await.status, 401);
}

async fn deleted_user_is_signed_out_for_current_user(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = start(&db).await;
    let mut jar = Jar::default();
    let up = s
        .sign_up("gone@example.com", "correct horse battery", &mut jar)
        .await;
    let id = auth_types::UserId::new(up.body["user"]["id"].as_str().unwrap());
    assert_eq!(s.get("/api/user", &mut jar).await.status, 200);

    assert!(s.idp.users().delete(&id).await.unwrap());
    // The session JWT may still be within its lifetime; the lookup must not hand out a profile.
    let r = s.get("/api/user", &mut jar).await;
    assert_eq!(r.status, 401, "{}", r.text);
}

async fn app_routes_get_the_csrf_check(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = start(&db).await;
    let mut jar = Jar::default();
    s.sign_up("csrf@example.com", "correct horse battery", &mut jar)
        .await;

    assert_eq!(
        s.post_json("/api/posts", json!({}), &mut jar).await.status,
        200
    );
    jar.extra
        .push(("origin", "https://evil.example".to_owned()));
    let r = s.post_json("/api/posts", json!({}), &mut jar).await;
    assert_eq!(r.status, 403, "{}", r.text);
}

/// A stale `__refresh` cookie sent along with a sign-in must not undo it. The layer renews (or
/// clears) the session that cookie points at; appending those `Set-Cookie`s after the sign-in's
/// own would leave the browser signed out (a revoked session) or holding another account's JWT
/// (a live one, e.g. planted by an attacker). The handler's cookies win.
async fn sign_in_cookies_win_over_a_stale_refresh_cookie(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = start(&db).await;
    let password = "correct horse battery";
    let mut old = Jar::default();
    s.sign_up("stale@example.com", password, &mut old).await;
    let revoked = old.cookies["__refresh"].clone();
    assert_eq!(
        s.post_json("/auth/sign-out", json!({}), &mut old)
            .await
            .status,
        200
    );
    let mut other = Jar::default();
    s.sign_up("other@example.com", password, &mut other).await;
    let live = other.cookies["__refresh"].clone();

    for (what, refresh) in [("revoked", revoked), ("another account's live", live)] {
        let mut jar = Jar::default();
        jar.cookies.insert("__refresh".into(), refresh);
        let r = s.sign_in("stale@example.com", password, &mut jar).await;
        assert_eq!(r.status, 200, "{what}: {}", r.text);
        let sessions = r
            .set_cookies()
            .into_iter()
            .filter(|c| c.starts_with("__session="))
            .count();
        assert_eq!(sessions, 1, "{what}: {:?}", r.set_cookies());
        let me = s.get("/api/me", &mut jar).await;
        assert_eq!(
            (me.status, me.text.as_str()),
            (200, r.body["user"]["id"].as_str().unwrap()),
            "{what}: the browser must end up with the session the sign-in issued"
        );
    }
}

/// `AuthStack`'s background task deletes sessions that ended more than a week ago (its first pass
/// runs one key-reload interval, 10 s, after start) and keeps live ones.
async fn the_stack_purges_sessions_that_ended_long_ago(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = start(&db).await;
    let (mut old, mut live) = (Jar::default(), Jar::default());
    assert_eq!(
        s.sign_up("old@example.com", "correct horse 1", &mut old)
            .await
            .status,
        201
    );
    assert_eq!(
        s.sign_up("live@example.com", "correct horse 2", &mut live)
            .await
            .status,
        201
    );
    db.exec(
        "UPDATE sessions SET expires_at = 1 WHERE user_id = \
         (SELECT id FROM users WHERE email = 'old@example.com')",
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while db.scalar("SELECT COUNT(*) FROM sessions").await != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the ended session was never purged"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let me = s.get("/api/me", &mut live).await;
    assert_eq!(me.status, 200, "the live session is untouched");
}

/// `Idp::rotate_keys_now` in a running server: the next token is signed with the new key, and
/// this instance's own verifier accepts it at once (not only after the background reload).
/// (Staged rotation, `Idp::rotate_keys`: tests/keys.rs.)
async fn a_rotation_is_verified_at_once_by_its_own_instance(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = start(&db).await;
    let mut jar = Jar::default();
    assert_eq!(
        s.sign_up("rot@example.com", "correct horse battery", &mut jar)
            .await
            .status,
        201
    );
    let new_kid = s.idp.rotate_keys_now().await.unwrap();
    let Renewal::Renewed(renewed) = renew(&s.idp, &jar).await else {
        panic!("the session renews");
    };
    let kid = jsonwebtoken::decode_header(&renewed.token).unwrap().kid;
    assert_eq!(kid.as_deref(), Some(new_kid.as_str()));
    let r = s
        .http
        .get(s.url("/api/me"))
        .bearer_auth(&renewed.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "a token of the new key is accepted at once"
    );
}
