//! One request path: each request is authenticated once, by one rule, before anything else
//! happens.
//!
//! * A request whose `__session` has expired but whose `__refresh` is live is refreshed exactly
//!   once: one write to the session row, one new `__session` cookie.
//! * A request refused before its handler (a cross-origin write) changes nothing: no refresh, no
//!   cookie, no write.
//! * A refused `Authorization: Bearer` (bad signature, expired, malformed) is the credential the
//!   client chose: the request is signed out, and neither the `__session` nor the `__refresh`
//!   cookie signs it in behind the client's back.
//!
//! Writes are observed in the server's own SQLite file: [`WriteLog`] installs a trigger that logs
//! every `UPDATE` of the `sessions` table (a refresh touches `last_active_at`, a sign-out sets
//! `revoked_at`).

use crate::{PASSWORD, assert_accepted, assert_alive, edit, segments};
use e2e::AppServer;
use e2e::http::{
    FORBIDDEN, KeyPair, Session, UNAUTHORIZED, b64url_decode, client, now, server_signer, sign_up,
};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Row};

/// Every `UPDATE` of the server's `sessions` table, logged by a trigger in its database.
#[derive(Debug)]
struct WriteLog {
    conn: SqliteConnection,
}

impl WriteLog {
    /// Installs the log table and the trigger in the running server's SQLite file (`app.db` in
    /// its data folder).
    async fn install(server: &AppServer) -> Self {
        let path = server.data_dir().join("app.db");
        let mut conn = SqliteConnectOptions::new()
            .filename(&path)
            .connect()
            .await
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        for statement in [
            "CREATE TABLE IF NOT EXISTS test_session_writes (
                 session_id     TEXT,
                 last_active_at INTEGER,
                 revoked_at     INTEGER
             )",
            "CREATE TRIGGER IF NOT EXISTS test_log_session_writes AFTER UPDATE ON sessions
             BEGIN
                 INSERT INTO test_session_writes (session_id, last_active_at, revoked_at)
                 VALUES (NEW.id, NEW.last_active_at, NEW.revoked_at);
             END",
        ] {
            sqlx::query(statement)
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("install the session write log: {e}\n{statement}"));
        }
        Self { conn }
    }

    /// The writes logged so far, oldest first (`<session id> last_active_at=… revoked_at=…`).
    async fn writes(&mut self) -> Vec<String> {
        sqlx::query(
            "SELECT session_id, last_active_at, revoked_at FROM test_session_writes ORDER BY rowid",
        )
        .fetch_all(&mut self.conn)
        .await
        .expect("read the session write log")
        .iter()
        .map(|row| {
            let id: Option<String> = row.get("session_id");
            let active: Option<i64> = row.get("last_active_at");
            let revoked: Option<i64> = row.get("revoked_at");
            format!(
                "{} last_active_at={active:?} revoked_at={revoked:?}",
                id.unwrap_or_default()
            )
        })
        .collect()
    }

    /// The writes logged since `before` writes had been.
    async fn since(&mut self, before: usize) -> Vec<String> {
        self.writes().await.split_off(before)
    }
}

/// What came back: status, every `Set-Cookie` value, and the body.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    set_cookies: Vec<String>,
    body: String,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let set_cookies = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let body = response.text().await.unwrap_or_default();
        Self {
            status,
            set_cookies,
            body,
        }
    }

    /// The values of the `Set-Cookie` headers that set a non-empty `__session` (removals left
    /// out).
    fn sessions_set(&self) -> Vec<&str> {
        self.set_cookies
            .iter()
            .filter_map(|cookie| {
                let (name, rest) = cookie.split_once('=')?;
                let value = rest.split(';').next().unwrap_or_default().trim();
                (name.trim() == "__session" && !value.is_empty()).then_some(value)
            })
            .collect()
    }

    /// The body as JSON (`Null` when it is not JSON).
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// `auth.status` of a `/auth/session` answer.
    fn auth_status(&self) -> String {
        self.json()["auth"]["status"]
            .as_str()
            .unwrap_or("<none>")
            .to_owned()
    }
}

/// `GET path` with exactly these headers.
async fn get(server: &AppServer, path: &str, headers: &[(header::HeaderName, String)]) -> Answer {
    let mut request = client().get(server.url(path));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    Answer::read(response).await
}

/// The claims of a token the server issued.
fn issued_claims(token: &str) -> Value {
    let (_, payload, _) = segments(token);
    serde_json::from_slice(&b64url_decode(payload)).expect("the server issues JSON claims")
}

/// A `__session` JWT for the user and session of `session`, signed with the server's own key and
/// carrying the claims the server issued, except that it expired an hour ago. Checked: the same
/// token unexpired is accepted, so the expiry is the only thing wrong with it.
async fn expired_session_token(server: &AppServer, session: &Session) -> String {
    let real = server_signer(server).await;
    let issued = issued_claims(session.token());
    let fresh = edit(&issued, json!({ "exp": now() + 300 }));
    assert_accepted(server, &real.sign(&fresh), &session.user_id()).await;
    let expired = real.sign(&edit(
        &issued,
        json!({ "iat": now() - 3660, "nbf": now() - 3660, "exp": now() - 3600 }),
    ));
    let answer = get(
        server,
        "/api/me",
        &[(header::COOKIE, format!("__session={expired}"))],
    )
    .await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::UNAUTHORIZED, UNAUTHORIZED),
        "control: the expired token alone (no refresh cookie) is refused"
    );
    expired
}

/// An expired `__session` and a live `__refresh` on `/auth/session` and `/auth/token`: the
/// session is renewed once — one write to its row, one new `__session` cookie, and the token the
/// answer carries is the one the cookie sets. (Before the one-path change the layer refreshed and
/// then the handler refreshed again: two writes.)
#[tokio::test(flavor = "multi_thread")]
async fn expired_session_with_valid_refresh_is_refreshed_exactly_once() {
    let mut server = AppServer::start().await;
    let user = sign_up(&server, "once@example.com", PASSWORD, "Once").await;
    let sid = issued_claims(user.token())["sid"]
        .as_str()
        .expect("a sid claim")
        .to_owned();
    let expired = expired_session_token(&server, &user).await;
    let mut cookies = format!("__session={expired}; __refresh={}", user.refresh());
    let mut log = WriteLog::install(&server).await;

    for (path, extra) in [
        ("/auth/session", None),
        (
            "/auth/token",
            Some((
                header::HeaderName::from_static("sec-fetch-site"),
                "same-origin",
            )),
        ),
    ] {
        let before = log.writes().await.len();
        let mut headers = vec![(header::COOKIE, cookies.clone())];
        headers.extend(extra.map(|(name, value)| (name, value.to_owned())));
        let answer = get(&server, path, &headers).await;
        let writes = log.since(before).await;
        let what = format!("GET {path} with an expired __session and a live __refresh");

        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{what}: answered {} {}",
            answer.status,
            answer.body
        );
        let set = answer.sessions_set();
        assert_eq!(
            set.len(),
            1,
            "{what}: {} Set-Cookie headers set __session, expected exactly one; all Set-Cookie: \
             {:#?}",
            set.len(),
            answer.set_cookies
        );
        assert_eq!(
            writes.len(),
            1,
            "{what}: the request updated the sessions table {} times, expected exactly one \
             refresh (session {sid}); writes: {writes:#?}",
            writes.len()
        );
        assert!(
            writes[0].starts_with(&format!("{sid} ")),
            "{what}: the refresh wrote to another session than {sid}: {writes:#?}"
        );
        let body = answer.json();
        match path {
            "/auth/session" => {
                assert_eq!(
                    answer.auth_status(),
                    "signed_in",
                    "{what}: not signed in: {}",
                    answer.body
                );
                assert_eq!(
                    body["user"]["id"],
                    user.user_id().as_str(),
                    "{what}: whose session? {}",
                    answer.body
                );
            }
            _ => assert_eq!(
                body["token"].as_str(),
                Some(set[0]),
                "{what}: the token answered is not the one the __session cookie sets (two \
                 tokens minted in one request?): {}",
                answer.body
            ),
        }
        // The refresh rotated the secret; the next request presents the new one, as a browser
        // would (the old one would be answered from its grace, without a write).
        let rotated = answer.set_cookies.iter().find_map(|c| {
            let value = c.strip_prefix("__refresh=")?.split(';').next()?;
            (!value.is_empty()).then(|| value.to_owned())
        });
        let rotated = rotated.unwrap_or_else(|| panic!("{what}: no rotated __refresh"));
        cookies = format!("__session={expired}; __refresh={rotated}");
    }
    assert_alive(&mut server).await;
}

/// A cross-origin `POST` carrying an expired `__session` and a live `__refresh` (so a refresh
/// would show) is refused before anything happens: 403, no `Set-Cookie` at all, no write to the
/// sessions table. Afterwards the same cookies still sign in. (Before the one-path change the
/// layer refreshed the session first, and the 403 carried the new `__session`.)
#[tokio::test(flavor = "multi_thread")]
async fn cross_origin_post_with_cookies_changes_nothing() {
    let mut server = AppServer::start().await;
    let user = sign_up(&server, "cross@example.com", PASSWORD, "Cross Origin").await;
    let expired = expired_session_token(&server, &user).await;
    let cookies = format!("__session={expired}; __refresh={}", user.refresh());
    let mut log = WriteLog::install(&server).await;
    let http = client();

    for (path, body) in [
        ("/auth/sign-out", json!({})),
        ("/auth/ui/profile/name", json!({ "name": "x" })),
    ] {
        let before = log.writes().await.len();
        let response = http
            .post(server.url(path))
            .header(header::ORIGIN, "https://evil.example")
            .header(header::COOKIE, &cookies)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let answer = Answer::read(response).await;
        let writes = log.since(before).await;
        let what = format!(
            "POST {path} from https://evil.example with an expired __session and a live __refresh"
        );
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (StatusCode::FORBIDDEN, FORBIDDEN),
            "{what}: not refused"
        );
        assert!(
            answer.set_cookies.is_empty(),
            "{what}: the refused request set cookies (a refresh ran before the refusal?): {:#?}",
            answer.set_cookies
        );
        assert!(
            writes.is_empty(),
            "{what}: the refused request updated the sessions table {} times (a refresh or a \
             sign-out ran before the refusal): {writes:#?}",
            writes.len()
        );
    }

    // Nothing happened: the same cookies still sign in (this refresh is logged, which also shows
    // the log would have seen one above), and the name is unchanged.
    let before = log.writes().await.len();
    let answer = get(
        &server,
        "/auth/session",
        &[(header::COOKIE, cookies.clone())],
    )
    .await;
    assert_eq!(
        (answer.status, answer.auth_status().as_str()),
        (StatusCode::OK, "signed_in"),
        "after the refused requests, the same cookies no longer sign in: {}",
        answer.body
    );
    assert_eq!(
        answer.json()["user"]["name"],
        "Cross Origin",
        "a refused cross-origin write changed the name: {}",
        answer.body
    );
    let writes = log.since(before).await;
    assert!(
        !writes.is_empty(),
        "control: a refresh is not seen in the write log, so the checks above prove nothing"
    );
    assert_alive(&mut server).await;
}

/// A refused `Authorization: Bearer` — garbage, signed with another key, expired, or malformed —
/// signs the request out even though its cookies are valid: `/api/me` answers 401,
/// `/auth/session` answers signed out, with no `Set-Cookie` and no refresh. The same with an
/// expired `__session` and a live `__refresh`. (Before the one-path change a refused Bearer fell
/// back to the refresh cookie, and `/auth/session` read the cookies whatever the header said.)
#[tokio::test(flavor = "multi_thread")]
async fn refused_bearer_never_falls_back_to_cookies() {
    let mut server = AppServer::start().await;
    let user = sign_up(&server, "bearer-fallback@example.com", PASSWORD, "Bearer").await;
    let uid = user.user_id();
    let real = server_signer(&server).await;
    let fresh = edit(&issued_claims(user.token()), json!({ "exp": now() + 300 }));
    let other_key = KeyPair::generate(&real.kid).signer.sign(&fresh);
    let expired = expired_session_token(&server, &user).await;
    let valid_cookies = user.cookie_header();
    let expired_cookies = format!("__session={expired}; __refresh={}", user.refresh());

    // Controls: the cookies alone sign in, and so does a Bearer the server signed.
    let answer = get(
        &server,
        "/api/me",
        &[(header::COOKIE, valid_cookies.clone())],
    )
    .await;
    assert_eq!(
        (answer.status, answer.json()["user_id"].as_str()),
        (StatusCode::OK, Some(uid.as_str())),
        "control: the cookies alone: {}",
        answer.body
    );
    let answer = get(
        &server,
        "/api/me",
        &[(
            header::AUTHORIZATION,
            format!("Bearer {}", real.sign(&fresh)),
        )],
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "control: a Bearer the server signed"
    );

    let mut log = WriteLog::install(&server).await;
    let refused = [
        ("a garbage Bearer", "Bearer garbage.not.jwt".to_owned()),
        (
            "a Bearer signed with another key (the server's kid)",
            format!("Bearer {other_key}"),
        ),
        (
            "an expired Bearer signed by the server",
            format!("Bearer {expired}"),
        ),
        ("`Bearer` without a token", "Bearer".to_owned()),
        ("`Bearer a b`", "Bearer a b".to_owned()),
    ];
    for (cookies_are, cookies) in [
        ("valid cookies", &valid_cookies),
        (
            "an expired __session and a live __refresh",
            &expired_cookies,
        ),
    ] {
        for (bearer, authorization) in &refused {
            let headers = [
                (header::AUTHORIZATION, authorization.clone()),
                (header::COOKIE, cookies.clone()),
            ];
            for path in ["/api/me", "/auth/session"] {
                let before = log.writes().await.len();
                let answer = get(&server, path, &headers).await;
                let writes = log.since(before).await;
                let what = format!("GET {path} with {bearer} and {cookies_are}");
                if path == "/api/me" {
                    assert_eq!(
                        (answer.status, answer.body.as_str()),
                        (StatusCode::UNAUTHORIZED, UNAUTHORIZED),
                        "{what}: the cookies were used instead of the refused Bearer"
                    );
                } else {
                    assert_eq!(
                        answer.auth_status(),
                        "signed_out",
                        "{what}: the cookies were used instead of the refused Bearer ({}): {}",
                        answer.status,
                        answer.body
                    );
                }
                assert!(
                    answer.set_cookies.is_empty(),
                    "{what}: cookies were set (a refresh through __refresh?): {:#?}",
                    answer.set_cookies
                );
                assert!(
                    writes.is_empty(),
                    "{what}: the sessions table was updated {} times (a refresh through \
                     __refresh): {writes:#?}",
                    writes.len()
                );
            }
        }
    }

    // Control: the same expired cookies without a Bearer are refreshed, and the log sees it.
    let before = log.writes().await.len();
    let answer = get(
        &server,
        "/api/me",
        &[(header::COOKIE, expired_cookies.clone())],
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "control: the expired __session with a live __refresh and no Bearer: {}",
        answer.body
    );
    assert!(
        !log.since(before).await.is_empty(),
        "control: a refresh is not seen in the write log, so the checks above prove nothing"
    );
    assert_alive(&mut server).await;
}
