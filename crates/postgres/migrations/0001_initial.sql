-- Portcullis PostgreSQL schema, version 1: the tables of SQLite migrations 0001-0004 in one.
--
-- Tokens, codes, interaction and session ids are kept only as the hex SHA-256 of the value
-- (never the value itself). Times are BIGINT unix seconds handed in by the core's clock
-- (never the database's now()). Scope sets are space-joined text; lists, claims and pending
-- requests are JSON kept as TEXT (JSONB refuses \u0000, which a request's `state` may carry,
-- and nothing queries inside them). Tokens and codes carry no foreign keys: the store removes
-- them explicitly (delete_client, delete_account), and a subject need not be a local account.

CREATE TABLE clients (
    id                          TEXT    NOT NULL PRIMARY KEY,
    name                        TEXT    NOT NULL,
    secret                      TEXT,             -- SecretHash::to_stored(); NULL for public clients
    redirect_uris               TEXT    NOT NULL, -- JSON array of strings
    grant_types                 TEXT    NOT NULL, -- JSON array of strings
    scopes                      TEXT    NOT NULL, -- space-joined
    auth_method                 TEXT    NOT NULL,
    trusted                     BOOLEAN NOT NULL DEFAULT FALSE,
    access_token_lifetime       BIGINT,
    refresh_token_lifetime      BIGINT,
    authorization_code_lifetime BIGINT,
    access_token_format         TEXT    NOT NULL DEFAULT 'opaque', -- 'opaque' or 'jwt' (RFC 9068)
    created_at                  BIGINT  NOT NULL,
    updated_at                  BIGINT  NOT NULL,
    seq                         BIGINT  GENERATED ALWAYS AS IDENTITY -- insertion order (SQLite: rowid)
);
CREATE INDEX clients_created_at ON clients (created_at, seq);

CREATE TABLE scopes (
    name        TEXT    NOT NULL PRIMARY KEY,
    description TEXT    NOT NULL,
    is_default   BOOLEAN NOT NULL DEFAULT FALSE,
    translations TEXT    NOT NULL DEFAULT '{}' -- JSON {lang: text}
);

CREATE TABLE accounts (
    id            TEXT   NOT NULL PRIMARY KEY,
    username      TEXT   NOT NULL UNIQUE,
    password_hash TEXT,
    claims        TEXT   NOT NULL DEFAULT '{}', -- JSON object
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE authorization_codes (
    hash                  TEXT    NOT NULL PRIMARY KEY,
    family                TEXT    NOT NULL,
    client_id             TEXT    NOT NULL,
    subject               TEXT    NOT NULL,
    redirect_uri          TEXT    NOT NULL,
    redirect_uri_given    BOOLEAN NOT NULL,
    scopes                TEXT    NOT NULL,
    code_challenge        TEXT,
    code_challenge_method TEXT,
    nonce                 TEXT,
    auth_time             BIGINT,
    issued_at             BIGINT  NOT NULL,
    expires_at            BIGINT  NOT NULL,
    consumed_at           BIGINT
);
CREATE INDEX authorization_codes_family ON authorization_codes (family);
CREATE INDEX authorization_codes_client_id ON authorization_codes (client_id);
CREATE INDEX authorization_codes_subject ON authorization_codes (subject);
CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);

CREATE TABLE access_tokens (
    hash         TEXT    NOT NULL PRIMARY KEY,
    family       TEXT    NOT NULL,
    client_id    TEXT    NOT NULL,
    subject      TEXT,
    scopes       TEXT    NOT NULL,
    issued_at    BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    revoked      BOOLEAN NOT NULL DEFAULT FALSE,
    refresh_hash TEXT
);
CREATE INDEX access_tokens_family ON access_tokens (family);
CREATE INDEX access_tokens_client_id ON access_tokens (client_id);
CREATE INDEX access_tokens_subject ON access_tokens (subject);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);
CREATE INDEX access_tokens_refresh_hash ON access_tokens (refresh_hash);

CREATE TABLE refresh_tokens (
    hash        TEXT    NOT NULL PRIMARY KEY,
    family      TEXT    NOT NULL,
    client_id   TEXT    NOT NULL,
    subject     TEXT,
    scopes      TEXT    NOT NULL,
    auth_time   BIGINT,
    issued_at   BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    consumed_at BIGINT,
    revoked     BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_subject ON refresh_tokens (subject);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- The interactive half of OAuth (issue #3): pending authorization requests, remembered
-- consents, login sessions.
CREATE TABLE pending_authorizations (
    id_hash    TEXT   NOT NULL PRIMARY KEY,
    client_id  TEXT   NOT NULL,
    request    TEXT   NOT NULL, -- JSON PendingAuthorization
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pending_authorizations_expires_at ON pending_authorizations (expires_at);
CREATE INDEX pending_authorizations_client_id ON pending_authorizations (client_id);

CREATE TABLE consents (
    subject    TEXT   NOT NULL,
    client_id  TEXT   NOT NULL,
    scopes     TEXT   NOT NULL, -- space-joined
    granted_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (subject, client_id)
);
CREATE INDEX consents_client_id ON consents (client_id);

CREATE TABLE sessions (
    id_hash    TEXT   NOT NULL PRIMARY KEY,
    subject    TEXT   NOT NULL,
    auth_time  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_subject ON sessions (subject);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Signing keys (issue #5). private_key is the stored form the core hands over: PKCS#8, sealed
-- with AES-256-GCM when a key_encryption_key is configured ("aes256gcm:…"), else "pkcs8:…".
-- public_jwk is the JSON object published in the JWKS. retire_at and expires_at are NULL until
-- the key is retired. Changes to the set take an advisory lock (see key.rs).
CREATE TABLE signing_keys (
    kid         TEXT   NOT NULL PRIMARY KEY,
    alg         TEXT   NOT NULL,
    private_key TEXT   NOT NULL,
    public_jwk  TEXT   NOT NULL, -- JSON object
    created_at  BIGINT NOT NULL,
    not_before  BIGINT NOT NULL,
    retire_at   BIGINT,
    expires_at  BIGINT,
    seq         BIGINT GENERATED ALWAYS AS IDENTITY -- insertion order (SQLite: rowid)
);
CREATE INDEX signing_keys_not_before ON signing_keys (not_before, created_at);
CREATE INDEX signing_keys_expires_at ON signing_keys (expires_at);

-- Families revoked by revoke_family (a replayed code or refresh token, RFC 9700 §4.14.2).
-- save_tokens stores tokens of a family listed here as revoked, so a replay revokes what the
-- winner of a redemption race was issued even when the winner saves it after the revocation
-- (both take a transaction-level advisory lock on the family first). A mark lasts as long as
-- the family's rows did when it was revoked, and is purged after.
CREATE TABLE revoked_families (
    family     TEXT   NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_families_expires_at ON revoked_families (expires_at);
