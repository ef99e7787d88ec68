-- Redeeming the codes and refresh tokens of several requests in one round trip and one
-- transaction (crates/postgres/src/batch.rs, group commit), as 0005 does for storing tokens.
--
-- Element i of every array is one redemption, what `portcullis_redeem` (migration 0004) takes
-- for one; the answer is one row per redemption, `job` its position (1-based). The rules are
-- 0004's, and 0005's for the locks: every family's lock first, in the order of their keys
-- (so batches of two nodes that share families never deadlock); then each redemption in turn
-- by `portcullis_redeem` (which takes its family's lock again, already held). A redemption
-- sees those before it in the batch as committed: a code or refresh token presented twice in
-- one batch is consumed by the first and is a replay for the second, as one after the other.
-- The consuming UPDATEs cannot wait on each other across batches: a redemption's family is the
-- family of the credential it consumes, and its lock is held first.
--
-- If any redemption fails (a clashing hash), the whole call fails and nothing is consumed; the
-- caller then redeems one request at a time, to answer each request for its own.

CREATE FUNCTION portcullis_redeem_batch(
    lock_class     INTEGER,
    is_code        BOOLEAN[],
    credential     TEXT[],
    now_           BIGINT[],
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
) RETURNS TABLE (job INTEGER, outcome TEXT, replay_family TEXT)
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
    FOR i IN 1 .. cardinality(credential) LOOP
        job := i;
        SELECT r.outcome, r.replay_family INTO outcome, replay_family
        FROM portcullis_redeem(is_code[i], credential[i], now_[i], lock_class, a_hash[i],
            a_family[i], a_client_id[i], a_subject[i], a_scopes[i], a_issued_at[i],
            a_expires_at[i], a_revoked[i], a_refresh_hash[i], r_hash[i], r_family[i],
            r_client_id[i], r_subject[i], r_scopes[i], r_auth_time[i], r_issued_at[i],
            r_expires_at[i]) AS r;
        RETURN NEXT;
    END LOOP;
END;
$$;
