//! Races at the token endpoint over PostgreSQL (issue #6): many concurrent redemptions of one
//! authorization code, and of one refresh token, through `OAuthServer` on a pool of 16
//! connections. Exactly one succeeds; every other attempt is `invalid_grant`, and the family
//! ends up revoked as on any replay (RFC 6749 §4.1.2, RFC 9700 §4.14.2), including the tokens
//! the winner was issued. Rounds of two racers (a thief and the client) come on top of the
//! crowds: with two, the loser's revocation often lands before the winner has saved its
//! tokens, which `revoke_family`'s sticky mark must still catch.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use portcullis_core::model::secret::{generate, hash_token, TokenKind};
use portcullis_core::{
    AuthMethod, Builder, Client, Config, NewAuthorizationCode, OAuthServer, ScopeDef, ScopeSet, SecretHash,
    Store, Take, TokenReply, TokenRequest,
};
use portcullis_postgres::testing::{admin_url, TestDatabase};
use portcullis_testkit::fixtures::{basic_header, form};
use serde_json::Value;

/// (concurrent attempts, rounds): interleavings differ from round to round.
const RACES: [(usize, usize); 2] = [(50, 5), (2, 40)];

/// Every (racers, round) to run.
fn rounds() -> impl Iterator<Item = (usize, usize)> {
    RACES.into_iter().flat_map(|(n, rounds)| (0..rounds).map(move |r| (n, r)))
}
const CB: &str = "https://app.example/cb";

struct Setup {
    server: OAuthServer,
    store: Arc<dyn Store>,
    id: String,
    secret: String,
    _db: TestDatabase,
}

async fn setup() -> Option<Setup> {
    let admin = admin_url("the PostgreSQL token endpoint races")?;
    let db = TestDatabase::create(&admin).await;
    let store: Arc<dyn Store> = db.store().await;
    let server = Builder::new(Config::default()).store(Arc::clone(&store)).build().unwrap();
    let now = server.now();
    for name in ["notes:read", "profile"] {
        let def = ScopeDef {
            name: name.into(),
            description: name.into(),
            is_default: false,
            translations: Default::default(),
        };
        store.create_scope(&def).await.unwrap();
    }
    let secret = generate(TokenKind::ClientSecret);
    let client = Client {
        id: "racer".into(),
        name: "racer".into(),
        secret: Some(SecretHash::for_generated(&secret)),
        redirect_uris: vec![CB.into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: ScopeSet::from_stored("notes:read profile"),
        auth_method: AuthMethod::ClientSecretBasic,
        trusted: false,
        access_token_lifetime: None,
        refresh_token_lifetime: None,
        authorization_code_lifetime: None,
        access_token_format: Default::default(),
        created_at: now,
        updated_at: now,
    };
    store.create_client(&client).await.unwrap();
    Some(Setup { server, store, id: client.id, secret: secret.expose().to_owned(), _db: db })
}

impl Setup {
    async fn code(&self) -> String {
        let req = NewAuthorizationCode {
            client_id: self.id.clone(),
            subject: "alice".into(),
            redirect_uri: CB.into(),
            redirect_uri_given: true,
            scopes: ScopeSet::from_stored("notes:read profile"),
            code_challenge: None,
            nonce: None,
            auth_time: None,
        };
        self.server.issue_authorization_code(req).await.unwrap().expose().to_owned()
    }

    async fn post(&self, pairs: &[(&str, &str)]) -> (u16, Value) {
        post(&self.server, pairs, &basic_header(&self.id, &self.secret)).await
    }

    /// `racers` identical requests released at once; returns the one success's body and
    /// checks that every other answer is 400 `invalid_grant`.
    async fn race(&self, racers: usize, pairs: &[(&str, &str)]) -> Value {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let auth = basic_header(&self.id, &self.secret);
        let barrier = Arc::new(tokio::sync::Barrier::new(racers));
        let mut tasks = Vec::new();
        for _ in 0..racers {
            let (server, barrier, pairs, auth) =
                (self.server.clone(), Arc::clone(&barrier), pairs.clone(), auth.clone());
            tasks.push(tokio::spawn(async move {
                let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                barrier.wait().await;
                post(&server, &pairs, &auth).await
            }));
        }
        let mut wins = Vec::new();
        for t in tasks {
            let (status, body) = t.await.unwrap();
            match status {
                200 => wins.push(body),
                400 => assert_eq!(body["error"], "invalid_grant", "a losing attempt: {body}"),
                other => panic!("a concurrent attempt answered {other}: {body}"),
            }
        }
        assert_eq!(wins.len(), 1, "exactly one of {racers} concurrent attempts must succeed: {wins:?}");
        wins.pop().unwrap()
    }

    async fn access_revoked(&self, at: &Value) -> bool {
        let rec = self.store.get_access(&hash_token(at.as_str().unwrap())).await.unwrap();
        rec.expect("the access token was stored").revoked
    }

    /// The refresh token can no longer be used, and presenting it is a replay.
    async fn refresh_dead(&self, rt: &Value) -> bool {
        let hash = hash_token(rt.as_str().unwrap());
        let now = self.server.now();
        self.store.get_refresh(&hash, now).await.unwrap().is_none()
            && matches!(self.store.take_refresh(&hash, now).await.unwrap(), Take::Replayed { .. })
    }
}

async fn post(server: &OAuthServer, pairs: &[(&str, &str)], auth: &str) -> (u16, Value) {
    let res = match TokenRequest::parse(form(pairs).as_bytes(), Some(auth)) {
        Ok(req) => server.token(req).await.into_response(),
        Err(e) => TokenReply::error(e).into_response(),
    };
    (res.status().as_u16(), serde_json::from_str(res.body()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_code_redemptions_one_wins_and_the_family_is_revoked() {
    let Some(s) = setup().await else { return };
    for (racers, round) in rounds() {
        let code = s.code().await;
        let won = s
            .race(racers, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)])
            .await;
        // The losers were replays: what the code issued (to the winner) is revoked.
        assert!(
            s.access_revoked(&won["access_token"]).await,
            "{racers} racers, round {round}: winner's access token live"
        );
        assert!(
            s.refresh_dead(&won["refresh_token"]).await,
            "{racers} racers, round {round}: winner's refresh token live"
        );
        let (status, body) = s
            .post(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", won["refresh_token"].as_str().unwrap()),
            ])
            .await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refresh_rotations_one_wins_and_the_family_is_revoked() {
    let Some(s) = setup().await else { return };
    for (racers, round) in rounds() {
        let code = s.code().await;
        let (status, first) =
            s.post(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CB)]).await;
        assert_eq!(status, 200, "{first}");
        let rt = first["refresh_token"].as_str().unwrap().to_owned();
        let won = s.race(racers, &[("grant_type", "refresh_token"), ("refresh_token", &rt)]).await;
        assert!(
            s.access_revoked(&first["access_token"]).await,
            "{racers} racers, round {round}: first access token live"
        );
        assert!(
            s.access_revoked(&won["access_token"]).await,
            "{racers} racers, round {round}: winner's access token live"
        );
        assert!(
            s.refresh_dead(&won["refresh_token"]).await,
            "{racers} racers, round {round}: winner's refresh token live"
        );
    }
}

/// `save_tokens` (one call of `portcullis_save_tokens`, migration 0003) racing
/// `revoke_family` on the same family: whichever commits first, the token that was saved ends
/// up revoked, with its refresh token. The function takes the family lock before its INSERTs
/// and each INSERT sees what was committed while it waited; an INSERT that checked for the
/// revocation before the lock was granted stores a live token into a revoked family.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_save_racing_a_family_revocation_is_stored_revoked() {
    let Some(s) = setup().await else { return };
    let now = s.server.now();
    let access = |label: &str, family: &str, refresh: Option<&str>| portcullis_core::AccessTokenRecord {
        hash: hash_token(label),
        family: family.to_owned(),
        client_id: s.id.clone(),
        subject: Some("alice".to_owned()),
        scopes: ScopeSet::from_stored("notes:read"),
        issued_at: now,
        expires_at: now + 3600,
        revoked: false,
        refresh_hash: refresh.map(hash_token),
    };
    let mut saved_first = 0;
    for round in 0..150 {
        let family = format!("race-family-{round}");
        // The family's first token: a revocation marks only families that have rows.
        s.store.save_tokens(&access(&format!("first-{round}"), &family, None), None).await.unwrap();
        let at = access(&format!("at-{round}"), &family, Some(&format!("rt-{round}")));
        let rt = portcullis_core::RefreshTokenRecord {
            hash: hash_token(&format!("rt-{round}")),
            family: family.clone(),
            client_id: s.id.clone(),
            subject: Some("alice".to_owned()),
            scopes: ScopeSet::from_stored("notes:read"),
            auth_time: None,
            issued_at: now,
            expires_at: now + 86_400,
        };
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let (store, b) = (Arc::clone(&s.store), Arc::clone(&barrier));
        let save = tokio::spawn(async move {
            b.wait().await;
            store.save_tokens(&at, Some(&rt)).await.unwrap();
        });
        let (store, b, fam) = (Arc::clone(&s.store), Arc::clone(&barrier), family.clone());
        let revoke = tokio::spawn(async move {
            b.wait().await;
            store.revoke_family(&fam).await.unwrap()
        });
        save.await.unwrap();
        // Three rows revoked (the first token, the new pair): the save committed first.
        saved_first += usize::from(revoke.await.unwrap() == 3);
        let stored = s.store.get_access(&hash_token(&format!("at-{round}"))).await.unwrap().unwrap();
        assert!(stored.revoked, "round {round}: a token saved into a family being revoked stayed live");
        assert!(
            s.store.get_refresh(&hash_token(&format!("rt-{round}")), now).await.unwrap().is_none(),
            "round {round}: its refresh token stayed usable"
        );
    }
    eprintln!("the save committed before the revocation in {saved_first} of 150 rounds");
}
