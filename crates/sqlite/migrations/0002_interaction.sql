-- Portcullis SQLite schema, version 2: the interactive half of OAuth (issue #3).
--
-- Pending authorization requests, remembered consents, login sessions, and translated scope
-- descriptions. Interaction and session ids are kept only as their hex SHA-256.

ALTER TABLE scopes ADD COLUMN translations TEXT NOT NULL DEFAULT '{}'; -- JSON {lang: text}

CREATE TABLE pending_authorizations (
    id_hash    TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL,
    request    TEXT    NOT NULL, -- JSON PendingAuthorization
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX pending_authorizations_expires_at ON pending_authorizations (expires_at);
CREATE INDEX pending_authorizations_client_id ON pending_authorizations (client_id);

CREATE TABLE consents (
    subject    TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    scopes     TEXT    NOT NULL, -- space-joined
    granted_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (subject, client_id)
);
CREATE INDEX consents_client_id ON consents (client_id);

CREATE TABLE sessions (
    id_hash    TEXT    NOT NULL PRIMARY KEY,
    subject    TEXT    NOT NULL,
    auth_time  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_subject ON sessions (subject);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
