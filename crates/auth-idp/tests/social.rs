//! Social sign-in over real HTTP and the real store (SQLite and PostgreSQL), against a real
//! certified OpenID provider on loopback (`oidc-provider` from npm, its own login and consent
//! pages driven over HTTP), GitHub's documented OAuth and REST shape served by a local double,
//! and a hostile provider (a local server whose ID tokens are forged one flaw at a time).

mod idp_support;

#[path = "../../../tests/e2e/src/github.rs"]
mod github;
#[path = "../../../tests/e2e/src/oidc.rs"]
mod oidc;

use auth_idp::{Idp, IdpConfig, OAuthProvider};
use github::{GithubDouble, GithubEmail, GithubUser};
use idp_support::{Jar, Kind, Resp, Server, TestDb, config, listener};
use oidc::{OidcClient, OidcProvider, authorize_over_http, deny_over_http};
use serde_json::{Value, json};
use std::collections::HashMap;

both_backends!(
    first_sign_in_creates_the_user_and_the_second_signs_the_same_user_in,
    a_verified_account_is_linked_by_its_address,
    an_unverified_account_is_not_linked,
    connect_and_disconnect_from_the_profile,
);

const CLIENT_ID: &str = "template-app";
const CLIENT_SECRET: &str = "a-long-client-secret-for-the-tests";
const PW: &str = "correct horse battery staple";

// ---- harness ----------------------------------------------------------------------------------

/// The provider settings as the environment would give them.
fn providers(vars: &[(&str, String)]) -> Vec<OAuthProvider> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    OAuthProvider::from_lookup(|n| map.get(n).cloned()).expect("provider settings")
}

/// `acme`: a generic OpenID Connect provider at `issuer`.
fn acme(issuer: &str, extra: &[(&str, String)]) -> Vec<(&'static str, String)> {
    let mut vars = vec![
        ("AUTH_OAUTH_PROVIDERS", "acme".to_owned()),
        ("AUTH_OAUTH_ACME_CLIENT_ID", CLIENT_ID.to_owned()),
        ("AUTH_OAUTH_ACME_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("AUTH_OAUTH_ACME_ISSUER", issuer.to_owned()),
        ("AUTH_OAUTH_ACME_NAME", "Acme ID".to_owned()),
    ];
    for (k, v) in extra {
        if let Some(slot) = vars.iter_mut().find(|(name, _)| name == k) {
            slot.1 = v.clone();
        } else {
            vars.push((
                Box::leak((*k).to_owned().into_boxed_str()) as &'static str,
                v.clone(),
            ));
        }
    }
    vars
}

/// Our server on `db` with a real OpenID provider registered for its callback.
struct World {
    server: Server,
    op: OidcProvider,
}

async fn world(db: &TestDb, make: impl FnOnce(IdpConfig) -> IdpConfig) -> World {
    world_with(db, &[], make).await
}

async fn world_with(
    db: &TestDb,
    extra: &[(&str, String)],
    make: impl FnOnce(IdpConfig) -> IdpConfig,
) -> World {
    let (listener, base) = listener().await;
    let op = OidcProvider::start(&[OidcClient {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_uris: vec![format!("{base}/auth/oauth/acme/callback")],
    }])
    .await;
    let mut config = config(db, &base);
    config.oauth_providers = providers(&acme(&op.issuer(), extra));
    let idp = Idp::connect(make(config)).await.unwrap();
    World {
        server: Server::serve(idp, listener, base),
        op,
    }
}

fn assert_redirect(r: &Resp, to: &str) {
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some(to), "{r:?}");
}

/// `GET path` where path may be an absolute URL on our server.
async fn get(s: &Server, url: &str, jar: &mut Jar) -> Resp {
    let path = url.strip_prefix(&s.base).unwrap_or(url);
    s.get(path, jar).await
}

/// Where the page a "connect" post answers sends the browser (its refresh target).
fn page_target(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{r:?}");
    let at = r.text.find("url=").expect("a refresh") + 4;
    let end = r.text[at..].find('"').unwrap() + at;
    r.text[at..end].replace("&amp;", "&")
}

/// Starts a sign-in at `provider`: the 303's target (at the provider).
async fn start(s: &Server, provider: &str, redirect_url: &str, jar: &mut Jar) -> String {
    let r = s
        .get(
            &format!("/auth/oauth/{provider}?redirect_url={redirect_url}"),
            jar,
        )
        .await;
    assert_eq!(r.status, 303, "start: {r:?}");
    assert!(
        r.set_cookies().iter().any(|c| c.contains("oauth_state=")
            && c.contains("HttpOnly")
            && c.contains("Path=/auth/oauth")),
        "the state is bound to this browser: {:?}",
        r.set_cookies()
    );
    r.header("location").unwrap().to_owned()
}

/// A whole sign-in at the real provider as `login`: the callback's answer.
async fn sign_in_at_op(w: &World, login: &str, redirect_url: &str, jar: &mut Jar) -> Resp {
    let at_op = start(&w.server, "acme", redirect_url, jar).await;
    assert!(at_op.starts_with(&w.op.issuer()), "{at_op}");
    for required in [
        "code_challenge_method=S256",
        "state=",
        "nonce=",
        "response_type=code",
    ] {
        assert!(at_op.contains(required), "{required} in {at_op}");
    }
    let callback = authorize_over_http(&at_op, login).await;
    get(&w.server, &callback, jar).await
}

async fn me(s: &Server, jar: &mut Jar) -> Value {
    s.get("/auth/session", jar).await.body
}

fn user_id(session: &Value) -> String {
    session["user"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn error_of(r: &Resp) -> String {
    let location = r.header("location").unwrap_or_default();
    url::Url::parse(&format!("http://x{location}"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "error")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| format!("<no error in {location}>"))
}

/// A failed flow: back on the sign-in page with `code`, and signed out.
async fn assert_refused(s: &Server, r: &Resp, code: &str, jar: &mut Jar) {
    assert_eq!(r.status, 303, "{r:?}");
    let location = r.header("location").unwrap_or_default();
    assert!(location.starts_with("/sign-in?"), "{location}");
    assert_eq!(error_of(r), code, "{location}");
    assert!(
        !r.set_cookies()
            .iter()
            .any(|c| c.starts_with("__session=") && !c.starts_with("__session=;")),
        "no session cookie on a refused flow: {:?}",
        r.set_cookies()
    );
    assert_eq!(
        me(s, jar).await["auth"]["status"],
        "signed_out",
        "signed out"
    );
}

// ---- the real provider ------------------------------------------------------------------------

async fn first_sign_in_creates_the_user_and_the_second_signs_the_same_user_in(kind: Kind) {
    let db = TestDb::new(kind).await;
    let w = world(&db, |c| c).await;
    let s = &w.server;
    let mut jar = Jar::default();
    let r = sign_in_at_op(&w, "alice", "/dashboard", &mut jar).await;
    assert_redirect(&r, "/dashboard");
    assert!(r.header("referrer-policy") == Some("no-referrer"), "{r:?}");
    let session = me(s, &mut jar).await;
    assert_eq!(session["auth"]["status"], "signed_in", "{session}");
    assert_eq!(session["user"]["email"], "alice@example.test");
    assert_eq!(session["user"]["email_verified"], true);
    assert_eq!(session["user"]["name"], "Test alice");
    let first = user_id(&session);
    assert!(
        !jar.cookies.contains_key("__oauth_state"),
        "the state cookie is cleared"
    );

    let identities = s
        .idp
        .users()
        .identities(&auth_types::UserId::new(first.clone()))
        .await
        .unwrap();
    assert_eq!(identities.len(), 1);
    assert_eq!(identities[0].provider, "acme");
    assert_eq!(identities[0].provider_name, "Acme ID");
    let connections = s.get("/auth/identities", &mut jar).await;
    assert_eq!(connections.status, 200, "{connections:?}");
    assert_eq!(connections.body["has_password"], false);
    assert_eq!(
        connections.body["providers"],
        json!([{"id": "acme", "name": "Acme ID"}])
    );

    // Sign out, sign in again: the same user, no second account.
    let out = s.post_json("/auth/sign-out", json!({}), &mut jar).await;
    assert_eq!(out.status, 200, "{out:?}");
    let mut jar = Jar::default();
    let r = sign_in_at_op(&w, "alice", "/", &mut jar).await;
    assert_redirect(&r, "/");
    assert_eq!(user_id(&me(s, &mut jar).await), first);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM oauth_flows").await,
        0,
        "flows are single use"
    );

    // Without a password, the session alone confirms deleting the account (no password field
    // sent at all); its connected accounts go with it.
    let r = s
        .post_form(
            "/auth/account/delete",
            &[("redirect_url", "/bye")],
            &mut jar,
        )
        .await;
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some("/bye"));
    assert_eq!(db.scalar("SELECT COUNT(*) FROM users").await, 0);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM identities").await, 0);
}

async fn a_verified_account_is_linked_by_its_address(kind: Kind) {
    let db = TestDb::new(kind).await;
    let w = world(&db, |c| c).await;
    let s = &w.server;
    let mut jar = Jar::default();
    let r = s.sign_up("bob@example.test", PW, &mut jar).await;
    assert_eq!(r.status, 201, "{r:?}");
    let local = user_id(&r.body);
    db.exec("UPDATE users SET email_verified = 1").await;

    let mut browser = Jar::default();
    let r = sign_in_at_op(&w, "bob@example.test", "/", &mut browser).await;
    assert_redirect(&r, "/");
    assert_eq!(
        user_id(&me(s, &mut browser).await),
        local,
        "the same account"
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM identities").await, 1);
}

async fn an_unverified_account_is_not_linked(kind: Kind) {
    let db = TestDb::new(kind).await;
    let w = world(&db, |c| c).await;
    let s = &w.server;
    let mut jar = Jar::default();
    assert_eq!(
        s.sign_up("carol@example.test", PW, &mut jar).await.status,
        201
    );

    // Whoever controls carol@ at the provider must not get into an account whose owner never
    // proved the address (it may be a squatter's pre-registered account, or the other way round).
    let mut browser = Jar::default();
    let r = sign_in_at_op(&w, "carol@example.test", "/", &mut browser).await;
    assert_refused(s, &r, "account_exists", &mut browser).await;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM identities").await, 0);

    // A provider the operator trusts with its addresses links, and vouches for the address;
    // what was set up before that proof (the password, the sessions) stops working.
    drop(w);
    let w = world_with(
        &db,
        &[("AUTH_OAUTH_TRUSTED_FOR_LINKING", "acme".to_owned())],
        |c| c,
    )
    .await;
    let mut browser = Jar::default();
    let r = sign_in_at_op(&w, "carol@example.test", "/", &mut browser).await;
    assert_redirect(&r, "/");
    let session = me(&w.server, &mut browser).await;
    assert_eq!(session["user"]["email"], "carol@example.test");
    assert_eq!(session["user"]["email_verified"], true);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM users").await, 1);
    let r = w
        .server
        .sign_in("carol@example.test", PW, &mut Jar::default())
        .await;
    assert_eq!(r.status, 401, "the pre-proof password is gone: {r:?}");
    assert_eq!(
        me(&w.server, &mut jar).await["auth"]["status"],
        "signed_out",
        "the pre-proof session is revoked"
    );
}

async fn connect_and_disconnect_from_the_profile(kind: Kind) {
    let db = TestDb::new(kind).await;
    let w = world(&db, |c| c).await;
    let s = &w.server;
    let mut jar = Jar::default();
    let r = s.sign_up("dana@example.test", PW, &mut jar).await;
    let dana = user_id(&r.body);

    // Connect: a form post (same origin only), then the provider, then back to the profile.
    let r = s
        .post_form(
            "/auth/oauth/acme/link",
            &[("redirect_url", "/profile")],
            &mut jar,
        )
        .await;
    let at_op = page_target(&r);
    assert!(at_op.starts_with(&w.op.issuer()), "{at_op}");
    // The provider account has another address: connecting does not need it to match.
    let callback = authorize_over_http(&at_op, "dana-elsewhere").await;
    let r = get(s, &callback, &mut jar).await;
    assert_redirect(&r, "/profile");
    assert_eq!(
        user_id(&me(s, &mut jar).await),
        dana,
        "still dana's session"
    );
    let c = s.get("/auth/identities", &mut jar).await.body;
    assert_eq!(c["identities"][0]["provider"], "acme", "{c}");
    assert_eq!(c["identities"][0]["email"], "dana-elsewhere@example.test");
    assert_eq!(c["has_password"], true);

    // Signing in with it now signs dana in.
    let mut other = Jar::default();
    let r = sign_in_at_op(&w, "dana-elsewhere", "/", &mut other).await;
    assert_redirect(&r, "/");
    assert_eq!(user_id(&me(s, &mut other).await), dana);

    // Another user cannot connect the same provider account.
    let mut eve = Jar::default();
    s.sign_up("eve@example.test", PW, &mut eve).await;
    let r = s
        .post_form(
            "/auth/oauth/acme/link",
            &[("redirect_url", "/profile")],
            &mut eve,
        )
        .await;
    let callback = authorize_over_http(&page_target(&r), "dana-elsewhere").await;
    let r = get(s, &callback, &mut eve).await;
    assert_redirect(&r, "/profile?error=identity_taken");

    // Disconnect (form): back to the profile; nothing left connected.
    let r = s
        .post_form(
            "/auth/identities/acme/unlink",
            &[("redirect_url", "/profile")],
            &mut jar,
        )
        .await;
    assert_redirect(&r, "/profile");
    let c = s.get("/auth/identities", &mut jar).await.body;
    assert_eq!(c["identities"], json!([]), "{c}");
    let r = s
        .post_json("/auth/identities/acme/unlink", json!({}), &mut jar)
        .await;
    assert_eq!((r.status, r.error()), (404, "Not found"), "{r:?}");

    // A user made by the provider cannot drop their only way in, until they set a password.
    let mut frank = Jar::default();
    let r = sign_in_at_op(&w, "frank", "/", &mut frank).await;
    assert_redirect(&r, "/");
    let r = s
        .post_json("/auth/identities/acme/unlink", json!({}), &mut frank)
        .await;
    assert_eq!(r.status, 409, "{r:?}");
    assert_eq!(
        r.error(),
        auth_types::contract::FormError::LastSignInMethod.message()
    );
    let r = s
        .post_json(
            "/auth/password",
            json!({"current_password": "", "new_password": "a brand new passphrase"}),
            &mut frank,
        )
        .await;
    assert_eq!(r.status, 200, "setting a first password: {r:?}");
    let r = s
        .post_json("/auth/identities/acme/unlink", json!({}), &mut frank)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["has_password"], true);
    let mut again = Jar::default();
    let r = s
        .sign_in("frank@example.test", "a brand new passphrase", &mut again)
        .await;
    assert_eq!(r.status, 200, "the password signs in: {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callback_refuses_what_this_browser_did_not_start() {
    let db = TestDb::new(Kind::Sqlite).await;
    let w = world(&db, |c| c).await;
    let s = &w.server;

    // No state at all, or a state this browser has no cookie for.
    let mut jar = Jar::default();
    let r = s.get("/auth/oauth/acme/callback?code=x", &mut jar).await;
    assert_refused(s, &r, "oauth_state", &mut jar).await;

    // The attacker starts a flow and hands the victim the callback (login CSRF): the victim's
    // browser has no state cookie, so nothing happens; the attacker's flow is still unused.
    let mut attacker = Jar::default();
    let at_op = start(s, "acme", "/", &mut attacker).await;
    let callback = authorize_over_http(&at_op, "mallory").await;
    let mut victim = Jar::default();
    let r = get(s, &callback, &mut victim).await;
    assert_refused(s, &r, "oauth_state", &mut victim).await;
    // A cookie with another value is no better.
    victim
        .cookies
        .insert("__oauth_state".into(), "forged-value".into());
    let r = get(s, &callback, &mut victim).await;
    assert_refused(s, &r, "oauth_state", &mut victim).await;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM users").await, 0);

    // The attacker's own browser completes it once; replaying the callback is refused.
    let r = get(s, &callback, &mut attacker).await;
    assert_redirect(&r, "/");
    let mut replay = attacker.clone();
    replay.cookies.remove("__session");
    replay.cookies.remove("__refresh");
    let state = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    replay.cookies.insert("__oauth_state".into(), state);
    let r = get(s, &callback, &mut replay).await;
    assert_refused(s, &r, "oauth_state", &mut replay).await;

    // A used code with a fresh state: the provider refuses it (single use, PKCE).
    let mut jar = Jar::default();
    let at_op = start(s, "acme", "/", &mut jar).await;
    let fresh = authorize_over_http(&at_op, "mallory").await;
    let fresh_state = url::Url::parse(&fresh)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let old_code = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let r = s
        .get(
            &format!("/auth/oauth/acme/callback?code={old_code}&state={fresh_state}"),
            &mut jar,
        )
        .await;
    assert_refused(s, &r, "oauth_failed", &mut jar).await;

    // A response naming another issuer (RFC 9207 mix-up defence) is refused.
    let mut jar = Jar::default();
    let at_op = start(s, "acme", "/", &mut jar).await;
    let mut callback = url::Url::parse(&authorize_over_http(&at_op, "mallory").await).unwrap();
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .filter(|(k, _)| k != "iss")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    callback
        .query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair("iss", "https://accounts.example.com");
    let r = get(s, callback.as_str(), &mut jar).await;
    assert_refused(s, &r, "oauth_failed", &mut jar).await;

    // Consent denied at the provider.
    let mut jar = Jar::default();
    let at_op = start(s, "acme", "/", &mut jar).await;
    let denied = deny_over_http(&at_op, "zoe").await;
    assert!(denied.contains("error=access_denied"), "{denied}");
    let r = get(s, &denied, &mut jar).await;
    assert_refused(s, &r, "oauth_denied", &mut jar).await;

    // No verified address from the provider: no account.
    let mut jar = Jar::default();
    let r = sign_in_at_op(&w, "unverified-walt", "/", &mut jar).await;
    assert_refused(s, &r, "oauth_unverified_email", &mut jar).await;
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM users").await,
        1,
        "only mallory"
    );

    // An off-site redirect_url lands on the home page.
    let mut jar = Jar::default();
    let r = sign_in_at_op(&w, "mallory", "https%3A%2F%2Fevil.example%2F", &mut jar).await;
    assert_redirect(&r, "/");

    // An unknown provider is a message on the sign-in page, not a redirect anywhere.
    let mut jar = Jar::default();
    let r = s.get("/auth/oauth/nope", &mut jar).await;
    assert_refused(s, &r, "not_found", &mut jar).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_provider_is_a_clear_message() {
    let db = TestDb::new(Kind::Sqlite).await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (listener, base) = listener().await;
    let mut config = config(&db, &base);
    config.oauth_providers = providers(&acme(&issuer, &[]));
    let s = Server::serve(Idp::connect(config).await.unwrap(), listener, base);
    let mut jar = Jar::default();
    let r = s.get("/auth/oauth/acme?redirect_url=/x", &mut jar).await;
    assert_refused(&s, &r, "oauth_unavailable", &mut jar).await;
    assert!(
        r.header("location").unwrap().contains("redirect_url=%2Fx"),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_never_answers_times_out_into_a_clear_message() {
    let db = TestDb::new(Kind::Sqlite).await;
    // Accepts connections and never answers a byte.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let (listener, base) = listener().await;
    let mut config = config(&db, &base);
    config.oauth_providers = providers(&acme(&issuer, &[]));
    let s = Server::serve(Idp::connect(config).await.unwrap(), listener, base);
    let started = std::time::Instant::now();
    let mut jar = Jar::default();
    let r = s.get("/auth/oauth/acme?redirect_url=/x", &mut jar).await;
    assert_refused(&s, &r, "oauth_unavailable", &mut jar).await;
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(9) && waited < std::time::Duration::from_secs(30),
        "the provider's timeout (10 s) decides: {waited:?}"
    );
    hold.abort();
}

// ---- GitHub (its documented shape, served locally) --------------------------------------------

async fn github_world(db: &TestDb) -> (Server, GithubDouble) {
    let gh = GithubDouble::start(CLIENT_ID, CLIENT_SECRET).await;
    let (listener, base) = listener().await;
    let mut config = config(db, &base);
    let api = gh.base_url();
    config.oauth_providers = providers(&[
        ("AUTH_OAUTH_PROVIDERS", "github".into()),
        ("AUTH_OAUTH_GITHUB_CLIENT_ID", CLIENT_ID.into()),
        ("AUTH_OAUTH_GITHUB_CLIENT_SECRET", CLIENT_SECRET.into()),
        (
            "AUTH_OAUTH_GITHUB_AUTH_URL",
            format!("{api}/login/oauth/authorize"),
        ),
        (
            "AUTH_OAUTH_GITHUB_TOKEN_URL",
            format!("{api}/login/oauth/access_token"),
        ),
        ("AUTH_OAUTH_GITHUB_API_URL", api.clone()),
    ]);
    let s = Server::serve(Idp::connect(config).await.unwrap(), listener, base);
    (s, gh)
}

fn octocat(verified: bool) -> GithubUser {
    GithubUser {
        id: 583_231,
        login: "octocat".into(),
        name: Some("The Octocat".into()),
        avatar_url: "https://avatars.githubusercontent.com/u/583231".into(),
        emails: vec![
            GithubEmail {
                email: "octo-old@example.test".into(),
                primary: false,
                verified: true,
            },
            GithubEmail {
                email: "octocat@example.test".into(),
                primary: true,
                verified,
            },
        ],
    }
}

/// The browser at the double: its authorize page approves (or denies) at once.
async fn github_authorize(at_github: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http.get(at_github).send().await.unwrap();
    assert!(r.status().is_redirection(), "{r:?}");
    r.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_signs_in_with_its_primary_verified_address() {
    let db = TestDb::new(Kind::Sqlite).await;
    let (s, gh) = github_world(&db).await;
    gh.sign_in_as(octocat(true));
    let mut jar = Jar::default();
    let at_github = start(&s, "github", "/welcome", &mut jar).await;
    assert!(at_github.starts_with(&gh.base_url()), "{at_github}");
    let r = get(&s, &github_authorize(&at_github).await, &mut jar).await;
    assert_redirect(&r, "/welcome");
    let session = me(&s, &mut jar).await;
    assert_eq!(
        session["user"]["email"], "octocat@example.test",
        "{session}"
    );
    assert_eq!(session["user"]["name"], "The Octocat");
    assert_eq!(
        session["user"]["image_url"],
        "https://avatars.githubusercontent.com/u/583231"
    );
    assert_eq!(gh.hits("/user/emails"), 1);
    assert_eq!(
        db.scalar(
            "SELECT COUNT(*) FROM identities WHERE provider = 'github' AND subject = '583231'"
        )
        .await,
        1
    );

    // An unverified primary address creates nothing; denial is a clear message.
    let db = TestDb::new(Kind::Sqlite).await;
    let (s, gh) = github_world(&db).await;
    gh.sign_in_as(octocat(false));
    let mut jar = Jar::default();
    let at_github = start(&s, "github", "/", &mut jar).await;
    let r = get(&s, &github_authorize(&at_github).await, &mut jar).await;
    assert_refused(&s, &r, "oauth_unverified_email", &mut jar).await;
    gh.deny_next();
    let at_github = start(&s, "github", "/", &mut jar).await;
    let r = get(&s, &github_authorize(&at_github).await, &mut jar).await;
    assert_refused(&s, &r, "oauth_denied", &mut jar).await;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM users").await, 0);
}
