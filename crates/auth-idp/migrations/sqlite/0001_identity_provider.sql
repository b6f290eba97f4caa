-- Embedded identity provider (SQLite). Times are Unix seconds; JSON is stored as text.
CREATE TABLE users (
    id               TEXT    PRIMARY KEY NOT NULL,
    email            TEXT    NOT NULL UNIQUE,
    name             TEXT    NOT NULL DEFAULT '',
    image_url        TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    public_metadata  TEXT    NOT NULL DEFAULT '{}',
    private_metadata TEXT    NOT NULL DEFAULT '{}',
    roles            TEXT    NOT NULL DEFAULT '[]'
);

CREATE TABLE credentials (
    user_id       TEXT    PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_hash TEXT    NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    id                  TEXT    PRIMARY KEY NOT NULL,
    user_id             TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    refresh_secret_hash TEXT    NOT NULL UNIQUE,
    created_at          INTEGER NOT NULL,
    last_active_at      INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    revoked_at          INTEGER,
    user_agent          TEXT
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- `current_marker` is 1 for the one current signing key and NULL for retired keys: the UNIQUE
-- constraint makes "two current keys" impossible even when instances start concurrently.
CREATE TABLE signing_keys (
    kid             TEXT    PRIMARY KEY NOT NULL,
    alg             TEXT    NOT NULL,
    private_key_pem TEXT    NOT NULL,
    public_jwk      TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    retired_at      INTEGER,
    current_marker  INTEGER UNIQUE CHECK (current_marker = 1)
);
