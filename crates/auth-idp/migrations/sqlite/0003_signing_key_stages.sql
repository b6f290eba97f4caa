-- Staged key rotation: a new key is published (in the JWKS, in every instance's verifier) before it
-- signs. `activates_at` (Unix seconds) is when a key starts signing; `next_marker` is 1 for the one
-- key waiting to sign (published, not signing yet) and NULL otherwise: the unique index makes
-- "two pending keys" impossible even when instances rotate concurrently. `private_key_pem` holds
-- either PKCS#8 PEM or, with AUTH_KEY_ENCRYPTION_KEY, `aes256gcm:v1:<base64 nonce||ciphertext>`.
ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER;
ALTER TABLE signing_keys ADD COLUMN next_marker INTEGER CHECK (next_marker = 1);
CREATE UNIQUE INDEX signing_keys_next_marker ON signing_keys (next_marker);
UPDATE signing_keys SET activates_at = created_at;
