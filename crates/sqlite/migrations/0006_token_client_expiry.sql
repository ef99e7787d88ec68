-- One index fewer per token table: (client_id, expires_at) replaces the separate client_id and
-- expires_at indexes of access tokens, refresh tokens and codes.
--
-- Every index is one more b-tree page written per batch of issued tokens (SQLite rebalances an
-- index leaf with its neighbours when it splits, so each costs one to two WAL frames per
-- commit): at 8 tokens per commit an access token took 10.7 WAL frames per commit with both
-- indexes and 9.2 with this one (bench/README.md, step 26).
--
-- What used them still has an index: a client's tokens (client deletion, the token listing and
-- revocation by client) are a prefix of it; the purge finds expired rows client by client
-- (`purge_expired` in lib.rs walks the distinct client ids through the index, then each client's
-- expired range), so it touches only expired rows and never scans the table.
DROP INDEX access_tokens_client_id;
DROP INDEX access_tokens_expires_at;
CREATE INDEX access_tokens_client_expiry ON access_tokens (client_id, expires_at);
DROP INDEX refresh_tokens_client_id;
DROP INDEX refresh_tokens_expires_at;
CREATE INDEX refresh_tokens_client_expiry ON refresh_tokens (client_id, expires_at);
DROP INDEX authorization_codes_client_id;
DROP INDEX authorization_codes_expires_at;
CREATE INDEX authorization_codes_client_expiry ON authorization_codes (client_id, expires_at);
