-- Storing issued tokens in one round trip (crates/postgres/src/token.rs, `insert_tokens`).
--
-- Storing an access token (and its refresh token) took four statements, each a round trip
-- between the node and the database: BEGIN, the family's advisory lock, the INSERT (two with
-- a refresh token), COMMIT. This function does the same in one call: a statement run outside
-- a transaction block is its own transaction, so the lock is held until it commits, and
-- either every row is stored or none is.
--
-- It must be a PL/pgSQL function, not one statement with the lock in a CTE: under READ
-- COMMITTED a statement sees the database as it was when the statement started, so an
-- INSERT that took the lock on its way would not see a `revoked_families` row committed
-- while it waited for that lock (by the `revoke_family` it waited for), and would store a
-- live token into a revoked family. In a VOLATILE PL/pgSQL function every statement takes a
-- new snapshot: the INSERTs below run after the lock is granted and see every revocation
-- committed before.
--
-- The lock class is a parameter so that the Rust code (FAMILY_LOCK_CLASS) stays its one
-- definition. A unique violation (a clashing hash) raises SQLSTATE 23505 as the INSERT did.

CREATE FUNCTION portcullis_save_tokens(
    lock_class     INTEGER,
    a_hash         TEXT,
    a_family       TEXT,
    a_client_id    TEXT,
    a_subject      TEXT,
    a_scopes       TEXT,
    a_issued_at    BIGINT,
    a_expires_at   BIGINT,
    a_revoked      BOOLEAN,
    a_refresh_hash TEXT,
    r_hash         TEXT,
    r_family       TEXT,
    r_client_id    TEXT,
    r_subject      TEXT,
    r_scopes       TEXT,
    r_auth_time    BIGINT,
    r_issued_at    BIGINT,
    r_expires_at   BIGINT
) RETURNS VOID
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_class, hashtext(a_family));
    INSERT INTO access_tokens (hash, family, client_id, subject, scopes, issued_at, expires_at,
                               revoked, refresh_hash)
    VALUES (a_hash, a_family, a_client_id, a_subject, a_scopes, a_issued_at, a_expires_at,
            a_revoked OR EXISTS (SELECT 1 FROM revoked_families WHERE family = a_family),
            a_refresh_hash);
    IF r_hash IS NOT NULL THEN
        INSERT INTO refresh_tokens (hash, family, client_id, subject, scopes, auth_time,
                                    issued_at, expires_at, revoked)
        VALUES (r_hash, r_family, r_client_id, r_subject, r_scopes, r_auth_time, r_issued_at,
                r_expires_at,
                EXISTS (SELECT 1 FROM revoked_families WHERE family = r_family));
    END IF;
END;
$$;
