-- Change versions for the nodes' in-memory read cache (portcullis_core::store::cache,
-- crates/postgres/src/cache.rs, docs/architecture.md "Caches"); the counterpart of SQLite's
-- 0005. Every change to a cached aggregate bumps its counter in the same transaction,
-- whichever node or process makes it (the management CLI included), and notifies channel
-- `portcullis_changes`, so listening nodes read the counters again as soon as it commits.
-- Counters only grow.
--
-- Cached are clients (built from the clients row alone), the registered scopes (the scopes
-- rows alone: translations are a column, not a child table) and access tokens. No other
-- table feeds a cached value, so no other table needs a trigger.

CREATE TABLE change_versions (
    id            INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    clients       BIGINT  NOT NULL DEFAULT 0,
    scopes        BIGINT  NOT NULL DEFAULT 0,
    access_tokens BIGINT  NOT NULL DEFAULT 0
);
INSERT INTO change_versions (id) VALUES (1);

-- The triggers below are deferred constraint triggers: they run at COMMIT, after the
-- transaction's last statement, rather than at the end of each statement. The counters are
-- one row, and its row lock is held from the bump until the transaction ends. Bumped at
-- statement end, a transaction could hold that lock while it goes on to lock token rows
-- (delete_client deletes the client, then its tokens; revoke_family revokes access tokens,
-- then refresh tokens) while another holds such rows and waits for the counters (a
-- revocation): a deadlock. Bumped at commit, the counters are the last lock every
-- transaction takes, held only while it commits, so they can close no cycle.
--
-- They are row triggers (constraint triggers cannot be statement triggers), so a statement
-- that touches no row bumps nothing, and an update that changes nothing (revoking a revoked
-- token) neither (the WHEN conditions). Only the first change of each aggregate in a
-- transaction bumps and notifies; the rest see the transaction-local flag and return.
-- PostgreSQL delivers a notification only if the transaction commits, after it committed.
CREATE FUNCTION portcullis_note_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    aggregate CONSTANT text := TG_ARGV[0];
    flag CONSTANT text := 'portcullis.changed_' || TG_ARGV[0];
BEGIN
    IF current_setting(flag, true) IS DISTINCT FROM 'yes' THEN
        -- is_local: the flag ends with the transaction.
        PERFORM set_config(flag, 'yes', true);
        UPDATE change_versions SET
            clients = clients + CASE WHEN aggregate = 'clients' THEN 1 ELSE 0 END,
            scopes = scopes + CASE WHEN aggregate = 'scopes' THEN 1 ELSE 0 END,
            access_tokens = access_tokens + CASE WHEN aggregate = 'access_tokens' THEN 1 ELSE 0 END
        WHERE id = 1;
        PERFORM pg_notify('portcullis_changes', aggregate);
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER clients_inserted AFTER INSERT ON clients
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION portcullis_note_change('clients');
CREATE CONSTRAINT TRIGGER clients_updated AFTER UPDATE ON clients
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION portcullis_note_change('clients');
CREATE CONSTRAINT TRIGGER clients_deleted AFTER DELETE ON clients
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION portcullis_note_change('clients');

CREATE CONSTRAINT TRIGGER scopes_inserted AFTER INSERT ON scopes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION portcullis_note_change('scopes');
CREATE CONSTRAINT TRIGGER scopes_updated AFTER UPDATE ON scopes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION portcullis_note_change('scopes');
CREATE CONSTRAINT TRIGGER scopes_deleted AFTER DELETE ON scopes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION portcullis_note_change('scopes');

-- New access tokens were never cached, so inserts need no bump; a revocation (the only
-- update) or a delete (purge, client removal) must drop cached copies.
CREATE CONSTRAINT TRIGGER access_tokens_updated AFTER UPDATE ON access_tokens
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION portcullis_note_change('access_tokens');
CREATE CONSTRAINT TRIGGER access_tokens_deleted AFTER DELETE ON access_tokens
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION portcullis_note_change('access_tokens');
