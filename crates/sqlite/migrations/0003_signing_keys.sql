-- Portcullis SQLite schema, version 3: signing keys (issue #5) and JWT access tokens.
--
-- private_key is the stored form the core hands over: PKCS#8, sealed with AES-256-GCM when a
-- key_encryption_key is configured ("aes256gcm:…"), else "pkcs8:…". public_jwk is the JSON
-- object published in the JWKS. Times are INTEGER unix seconds; retire_at and expires_at are
-- NULL until the key is retired.

CREATE TABLE signing_keys (
    kid         TEXT    NOT NULL PRIMARY KEY,
    alg         TEXT    NOT NULL,
    private_key TEXT    NOT NULL,
    public_jwk  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    not_before  INTEGER NOT NULL,
    retire_at   INTEGER,
    expires_at  INTEGER
);
CREATE INDEX signing_keys_not_before ON signing_keys (not_before, created_at);
CREATE INDEX signing_keys_expires_at ON signing_keys (expires_at);

-- Per-client access token format: 'opaque' (default) or 'jwt' (RFC 9068).
ALTER TABLE clients ADD COLUMN access_token_format TEXT NOT NULL DEFAULT 'opaque';
