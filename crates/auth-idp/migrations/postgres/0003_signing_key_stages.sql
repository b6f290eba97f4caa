-- Staged key rotation: a new key is published (in the JWKS, in every instance's verifier) before it
-- signs. `activates_at` (Unix seconds) is when a key starts signing; `next_marker` is 1 for the one
-- key waiting to sign (published, not signing yet) and NULL otherwise: the UNIQUE constraint makes
-- "two pending keys" impossible even when instances rotate concurrently. `private_key_pem` holds
-- either PKCS#8 PEM or, with AUTH_KEY_ENCRYPTION_KEY, `aes256gcm:v1:<base64 nonce||ciphertext>`.
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT;
ALTER TABLE signing_keys ADD COLUMN next_marker BIGINT UNIQUE CHECK (next_marker = 1);
UPDATE signing_keys SET activates_at = created_at;
