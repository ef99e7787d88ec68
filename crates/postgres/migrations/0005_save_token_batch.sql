-- Storing the tokens of several requests in one round trip and one transaction
-- (crates/postgres/src/batch.rs): group commit, as the SQLite store does.
--
-- Each array holds one column, one element per access token; the refresh token columns are
-- NULL for an access token issued without one. The rows are what `portcullis_save_tokens`
-- (migration 0003) stores for one access token and its refresh token, and the rules are its
-- rules: every family's lock is taken before any row is written, so the INSERTs (statements
-- started after the locks were granted) see every revocation committed before, and a
-- revocation waiting for one of these locks sees the rows once they commit.
--
-- The locks are taken in the order of their keys. Two batches that share families then
-- never wait for each other in a cycle: without an order, one could hold A and wait for B
-- while the other holds B and waits for A, a deadlock PostgreSQL breaks only after
-- `deadlock_timeout` by failing one of them. Every other holder of a family lock
-- (`portcullis_save_tokens`, `portcullis_redeem`, `revoke_family`) holds one only.
--
-- Either every row is stored or none: a unique violation (a clashing hash) raises SQLSTATE
-- 23505 for the whole batch, and the caller stores its tokens one request at a time to
-- answer each request for its own.

CREATE FUNCTION portcullis_save_token_batch(
    lock_class     INTEGER,
    a_hash         TEXT[],
    a_family       TEXT[],
    a_client_id    TEXT[],
    a_subject      TEXT[],
    a_scopes       TEXT[],
    a_issued_at    BIGINT[],
    a_expires_at   BIGINT[],
    a_revoked      BOOLEAN[],
    a_refresh_hash TEXT[],
    r_hash         TEXT[],
    r_family       TEXT[],
    r_client_id    TEXT[],
    r_subject      TEXT[],
    r_scopes       TEXT[],
    r_auth_time    BIGINT[],
    r_issued_at    BIGINT[],
    r_expires_at   BIGINT[]
) RETURNS VOID
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    lock_key INTEGER;
BEGIN
    FOR lock_key IN
        SELECT DISTINCT hashtext(f) FROM unnest(a_family || r_family) AS f
        WHERE f IS NOT NULL ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(lock_class, lock_key);
    END LOOP;
    INSERT INTO access_tokens (hash, family, client_id, subject, scopes, issued_at, expires_at,
                               revoked, refresh_hash)
    SELECT t.hash, t.family, t.client_id, t.subject, t.scopes, t.issued_at, t.expires_at,
           t.revoked OR EXISTS (SELECT 1 FROM revoked_families rf WHERE rf.family = t.family),
           t.refresh_hash
    FROM unnest(a_hash, a_family, a_client_id, a_subject, a_scopes, a_issued_at, a_expires_at,
                a_revoked, a_refresh_hash)
         AS t(hash, family, client_id, subject, scopes, issued_at, expires_at, revoked,
              refresh_hash);
    INSERT INTO refresh_tokens (hash, family, client_id, subject, scopes, auth_time, issued_at,
                                expires_at, revoked)
    SELECT t.hash, t.family, t.client_id, t.subject, t.scopes, t.auth_time, t.issued_at,
           t.expires_at,
           EXISTS (SELECT 1 FROM revoked_families rf WHERE rf.family = t.family)
    FROM unnest(r_hash, r_family, r_client_id, r_subject, r_scopes, r_auth_time, r_issued_at,
                r_expires_at)
         AS t(hash, family, client_id, subject, scopes, auth_time, issued_at, expires_at)
    WHERE t.hash IS NOT NULL;
END;
$$;
