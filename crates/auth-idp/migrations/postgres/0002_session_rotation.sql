-- Refresh-secret rotation with reuse detection (see `backend.rs`).
-- `family_hash`: SHA-256 of the part every refresh secret of the session shares (its family tag),
--   so a rotated-out secret of any generation still names its session, and presenting one
--   revokes it.
-- `previous_secret_hash` / `rotated_at`: the secret the last rotation replaced and when; it is
--   still accepted for the rotation grace (two tabs refreshing at once).
-- Sessions from before this migration have no family until their first rotation.
ALTER TABLE sessions ADD COLUMN family_hash TEXT;
ALTER TABLE sessions ADD COLUMN previous_secret_hash TEXT;
ALTER TABLE sessions ADD COLUMN rotated_at BIGINT;
CREATE UNIQUE INDEX sessions_family_hash ON sessions (family_hash);
CREATE INDEX sessions_previous_secret_hash ON sessions (previous_secret_hash);
