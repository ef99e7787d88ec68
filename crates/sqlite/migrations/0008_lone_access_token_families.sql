-- An access token issued alone (client credentials: no refresh token, no family handed down)
-- is a family of its own, named by its own hash (`AccessTokenRecord::family` in the core). It
-- needs no entry in the family index: revoking such a family finds the token by its primary key
-- (`family = hash`). Issuing it then writes one b-tree fewer: the rowid table, the hash key and
-- (client_id, expires_at) remain. bench/README.md, step 35.
--
-- Every query by family on access_tokens says `family <> hash`, so SQLite can use this partial
-- index, and looks up `hash = ?1 AND family = hash` for the lone case (token.rs).
DROP INDEX access_tokens_family;
CREATE INDEX access_tokens_family ON access_tokens (family) WHERE family <> hash;
