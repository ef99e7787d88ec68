-- Change versions for the server's in-memory read cache (portcullis_core::store::cache and
-- docs/architecture.md "Caches"). Every change to a cached aggregate bumps its counter in
-- the same transaction, whichever process makes it (the management CLI included), so a
-- server that reads the counters before it trusts its cache sees every committed change at
-- once. Counters only grow.

CREATE TABLE change_versions (
    id            INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    clients       INTEGER NOT NULL DEFAULT 0,
    scopes        INTEGER NOT NULL DEFAULT 0,
    access_tokens INTEGER NOT NULL DEFAULT 0
);
INSERT INTO change_versions (id) VALUES (1);

CREATE TRIGGER clients_inserted AFTER INSERT ON clients
BEGIN UPDATE change_versions SET clients = clients + 1 WHERE id = 1; END;
CREATE TRIGGER clients_updated AFTER UPDATE ON clients
BEGIN UPDATE change_versions SET clients = clients + 1 WHERE id = 1; END;
CREATE TRIGGER clients_deleted AFTER DELETE ON clients
BEGIN UPDATE change_versions SET clients = clients + 1 WHERE id = 1; END;

CREATE TRIGGER scopes_inserted AFTER INSERT ON scopes
BEGIN UPDATE change_versions SET scopes = scopes + 1 WHERE id = 1; END;
CREATE TRIGGER scopes_updated AFTER UPDATE ON scopes
BEGIN UPDATE change_versions SET scopes = scopes + 1 WHERE id = 1; END;
CREATE TRIGGER scopes_deleted AFTER DELETE ON scopes
BEGIN UPDATE change_versions SET scopes = scopes + 1 WHERE id = 1; END;

-- New access tokens were never cached, so inserts need no bump; a revocation (the only
-- update) or a delete (purge, client or account removal) must drop cached copies.
CREATE TRIGGER access_tokens_updated AFTER UPDATE ON access_tokens
BEGIN UPDATE change_versions SET access_tokens = access_tokens + 1 WHERE id = 1; END;
CREATE TRIGGER access_tokens_deleted AFTER DELETE ON access_tokens
BEGIN UPDATE change_versions SET access_tokens = access_tokens + 1 WHERE id = 1; END;

-- Most access tokens (client_credentials) have no subject and no refresh token: index only
-- the rows that have them, so issuing such a token touches two index pages fewer.
-- `WHERE subject = ?` and `WHERE refresh_hash = ?` imply NOT NULL, so SQLite still uses them.
DROP INDEX access_tokens_subject;
CREATE INDEX access_tokens_subject ON access_tokens (subject) WHERE subject IS NOT NULL;
DROP INDEX access_tokens_refresh_hash;
CREATE INDEX access_tokens_refresh_hash ON access_tokens (refresh_hash) WHERE refresh_hash IS NOT NULL;
DROP INDEX refresh_tokens_subject;
CREATE INDEX refresh_tokens_subject ON refresh_tokens (subject) WHERE subject IS NOT NULL;
