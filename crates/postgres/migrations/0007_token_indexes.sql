-- Fewer index entries per issued token (bench/README.md, sixth session), as SQLite's
-- migrations 0005 and 0007 did for its store.
--
-- - `access_tokens.refresh_hash` loses its index: `revoke_refresh` (token.rs) finds the access
--   tokens issued with a refresh token through their family, the refresh token's (the trait
--   says a pair shares a family).
-- - The `subject` indexes of access and refresh tokens keep only rows with a subject: a
--   client_credentials token has none, and a query by subject (`subject = $1`) implies
--   `subject IS NOT NULL`, so the partial index serves it.
--
-- A client_credentials token is then entered in four b-trees (its key, family, client,
-- expiry) instead of six. Rebuilding the subject indexes locks the token tables against
-- writes while it runs (about a second per million rows).
DROP INDEX access_tokens_refresh_hash;
DROP INDEX access_tokens_subject;
CREATE INDEX access_tokens_subject ON access_tokens (subject) WHERE subject IS NOT NULL;
DROP INDEX refresh_tokens_subject;
CREATE INDEX refresh_tokens_subject ON refresh_tokens (subject) WHERE subject IS NOT NULL;
