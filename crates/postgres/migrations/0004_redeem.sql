-- Redeeming a code or a refresh token in one round trip (crates/postgres/src/token.rs,
-- `redeem`), as 0003 does for storing tokens.
--
-- A redemption consumes the code or the refresh token and stores the tokens issued for it in
-- one transaction (docs/architecture.md, "Redemption"): it took six round trips (BEGIN, the
-- family lock, the consuming UPDATE, the INSERTs through 0003, COMMIT, and on failure the
-- replay SELECT). This function does the same in one call; run outside a transaction block,
-- it is a transaction of its own.
--
-- Under READ COMMITTED, as before: the family lock comes first (as in `revoke_family`, so the
-- two never wait on each other in opposite orders); a concurrent redemption of the same
-- credential blocks on the row lock of the UPDATE, which re-checks its condition once the
-- winner commits and consumes nothing; the replay SELECT is a new statement with a new
-- snapshot, so it sees what the winner committed. If storing the new tokens fails (a clashing
-- hash), the whole call fails and the credential stays unconsumed.
--
-- `outcome` is 'fresh' (consumed, tokens stored), 'replayed' (`replay_family` is the family
-- of the credential, consumed or revoked before: RFC 6749 §4.1.2, RFC 9700 §4.14.2) or
-- 'unknown' (no such credential, or expired). The conditions are those of the takes
-- (`take_code` in authorization.rs, `take_refresh` and the `…_REPLAY` queries in token.rs).

CREATE FUNCTION portcullis_redeem(
    is_code        BOOLEAN,
    credential     TEXT,
    now_           BIGINT,
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
    r_expires_at   BIGINT,
    OUT outcome       TEXT,
    OUT replay_family TEXT
)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_class, hashtext(a_family));
    IF is_code THEN
        UPDATE authorization_codes SET consumed_at = now_
        WHERE hash = credential AND consumed_at IS NULL AND expires_at > now_;
    ELSE
        UPDATE refresh_tokens SET consumed_at = now_
        WHERE hash = credential AND consumed_at IS NULL AND NOT revoked AND expires_at > now_;
    END IF;
    IF NOT FOUND THEN
        IF is_code THEN
            SELECT family INTO replay_family FROM authorization_codes
            WHERE hash = credential AND expires_at > now_ AND consumed_at IS NOT NULL;
        ELSE
            SELECT family INTO replay_family FROM refresh_tokens
            WHERE hash = credential AND expires_at > now_ AND (consumed_at IS NOT NULL OR revoked);
        END IF;
        outcome := CASE WHEN replay_family IS NULL THEN 'unknown' ELSE 'replayed' END;
        RETURN;
    END IF;
    PERFORM portcullis_save_tokens(lock_class, a_hash, a_family, a_client_id, a_subject, a_scopes,
        a_issued_at, a_expires_at, a_revoked, a_refresh_hash, r_hash, r_family, r_client_id,
        r_subject, r_scopes, r_auth_time, r_issued_at, r_expires_at);
    outcome := 'fresh';
END;
$$;
