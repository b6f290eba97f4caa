-- Email verification, password reset, email change and email-code sign-in (issue: accounts a
-- real product can run).
-- `email_verified`: 1 once the address was confirmed by a mailed code or link.
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;

-- One row per mailed secret. Only hashes are stored: `token_hash` is SHA-256 of the link's
-- token (at least 128 random bits), `code_hash` SHA-256 of the row id and the 8-digit code (the
-- id salts it). `purpose`: verify_email | password_reset | change_email | sign_in_code.
-- `email`: where the mail went (the new address for change_email). A new row of the same
-- (user, purpose) voids the previous one; `attempts` counts wrong codes (5 kill the row);
-- `used_at` makes it single use.
CREATE TABLE one_time_codes (
    id         TEXT    PRIMARY KEY NOT NULL,
    purpose    TEXT    NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT    NOT NULL,
    token_hash TEXT    UNIQUE,
    code_hash  TEXT,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX one_time_codes_user ON one_time_codes (user_id, purpose);
CREATE INDEX one_time_codes_email ON one_time_codes (email, purpose);
