-- An access token issued alone (client credentials: no refresh token, no family handed down)
-- is a family of its own, named by its own hash (`AccessTokenRecord::family` in the core), as
-- in SQLite's migration 0008. It needs no entry in the family index: revoking such a family
-- finds the token by its primary key (`family = hash`). A client_credentials token is then
-- entered in three b-trees (its key, client, expiry) instead of four.
--
-- Every query by family on access_tokens says `family <> hash`, so the planner can prove this
-- partial index serves it, and looks up `hash = $1 AND family = hash` for the lone case
-- (token.rs). Rebuilding the index locks access_tokens against writes while it runs.
DROP INDEX access_tokens_family;
CREATE INDEX access_tokens_family ON access_tokens (family) WHERE family <> hash;
