-- Portcullis SQLite schema, version 1.
--
-- Tokens and codes are kept only as the hex SHA-256 of the value (never the value itself).
-- Times are INTEGER unix seconds. Scope sets are space-joined text; lists and claims are JSON.
-- Tokens and codes carry no foreign keys: the store removes them explicitly (delete_client,
-- delete_account), and a subject need not be a local account (an embedding application may
-- authenticate users itself).

CREATE TABLE clients (
    id                          TEXT    NOT NULL PRIMARY KEY,
    name                        TEXT    NOT NULL,
    secret                      TEXT,            -- SecretHash::to_stored(); NULL for public clients
    redirect_uris               TEXT    NOT NULL, -- JSON array of strings
    grant_types                 TEXT    NOT NULL, -- JSON array of strings
    scopes                      TEXT    NOT NULL, -- space-joined
    auth_method                 TEXT    NOT NULL,
    trusted                     INTEGER NOT NULL DEFAULT 0,
    access_token_lifetime       INTEGER,
    refresh_token_lifetime      INTEGER,
    authorization_code_lifetime INTEGER,
    created_at                  INTEGER NOT NULL,
    updated_at                  INTEGER NOT NULL
);
CREATE INDEX clients_created_at ON clients (created_at);

CREATE TABLE scopes (
    name        TEXT    NOT NULL PRIMARY KEY,
    description TEXT    NOT NULL,
    is_default  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE accounts (
    id            TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT,
    claims        TEXT    NOT NULL DEFAULT '{}', -- JSON object
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE authorization_codes (
    hash                  TEXT    NOT NULL PRIMARY KEY,
    family                TEXT    NOT NULL,
    client_id             TEXT    NOT NULL,
    subject               TEXT    NOT NULL,
    redirect_uri          TEXT    NOT NULL,
    redirect_uri_given    INTEGER NOT NULL,
    scopes                TEXT    NOT NULL,
    code_challenge        TEXT,
    code_challenge_method TEXT,
    nonce                 TEXT,
    auth_time             INTEGER,
    issued_at             INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    consumed_at           INTEGER
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
    issued_at    INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked      INTEGER NOT NULL DEFAULT 0,
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
    auth_time   INTEGER,
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    consumed_at INTEGER,
    revoked     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_subject ON refresh_tokens (subject);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
