-- Rate-limit counters shared by every instance on this database (issue: N instances as one), so
-- a cluster of N instances gives an attacker one budget, not N. SQLite deployments are a single
-- instance and count in memory; this table is PostgreSQL's only.
--
-- One row per limited key: `key` names the limit and a digest of what it counts (an account, a
-- client address; never the plain value). `newest` is the newest time slot counted (slots are
-- Unix milliseconds / the limit's slot length) and `counts` the ring of per-slot counts, comma
-- separated. A row is read and written under its row lock, so concurrent instances never admit
-- more than the budget. `expires_at` (Unix ms): when every count has left the window; expired
-- rows are purged with the sessions.
CREATE TABLE rate_limits (
    key        TEXT   PRIMARY KEY NOT NULL,
    newest     BIGINT NOT NULL,
    counts     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX rate_limits_expires_at ON rate_limits (expires_at);
