-- Families revoked by revoke_family (a replayed code or refresh token, RFC 9700 §4.14.2).
-- save_tokens stores tokens of a family listed here as revoked, so a replay revokes what the
-- winner of a redemption race was issued even when the winner saves it after the revocation.
-- A mark lasts as long as the family's rows did when it was revoked, and is purged after.
CREATE TABLE revoked_families (
    family     TEXT    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX revoked_families_expires_at ON revoked_families (expires_at);
