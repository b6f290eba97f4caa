-- Social sign-in (issue: sign in with Google, GitHub, Microsoft and any OpenID Connect provider).

-- A provider account connected to a user: (provider, subject) is the provider's stable id for
-- the account (the ID token's `sub`, GitHub's numeric user id). One account per provider per
-- user. `email`: the address the provider gave when it was connected, for the profile.
CREATE TABLE identities (
    provider   TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE UNIQUE INDEX identities_user_provider ON identities (user_id, provider);

-- One row per sign-in started at a provider, taken (deleted) by its callback: single use. `id`
-- is SHA-256 of the `state` (256 random bits, also in the browser's short-lived cookie); the
-- PKCE verifier and the nonce never leave the server. `link_user_id`: the signed-in user a
-- "connect" flow adds the account to. Rows live 10 minutes; expired ones are purged.
CREATE TABLE oauth_flows (
    id            TEXT    PRIMARY KEY NOT NULL,
    provider      TEXT    NOT NULL,
    pkce_verifier TEXT    NOT NULL,
    nonce         TEXT    NOT NULL,
    redirect_url  TEXT    NOT NULL,
    link_user_id  TEXT    REFERENCES users (id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX oauth_flows_expires_at ON oauth_flows (expires_at);
