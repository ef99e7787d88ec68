-- The access tokens issued with a refresh token are found through their family (they are in
-- the refresh token's family; `revoke_refresh` in token.rs), so `refresh_hash` needs no index
-- of its own: one b-tree fewer for every access token issued with a refresh token (the code
-- exchange and refresh grants). See bench/README.md, step 29.
DROP INDEX access_tokens_refresh_hash;
