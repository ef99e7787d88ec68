//! Group commit on PostgreSQL (`batch.rs`, migrations 0005 and 0006): token saves that queue
//! while another is on its way are stored by one call of `portcullis_save_token_batch`, and
//! redemptions of codes and refresh tokens by one call of `portcullis_redeem_batch`, one
//! transaction each. Which rows one transaction wrote is read from PostgreSQL itself: rows
//! inserted by one transaction share their `xmin`.
//!
//! The tests run on a current-thread runtime: tasks spawned together all queue their saves
//! before the task that stores them first runs, so the batches are known in advance.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::sync::Arc;

use portcullis_core::model::secret::hash_token;
use portcullis_core::store::{AuthorizationStore, StoreError, StoreResult, TokenStore};
use portcullis_core::{
    AccessTokenRecord, AuthorizationCode, RefreshTokenRecord, ScopeSet, Store, Take, UnixTime,
};
use portcullis_postgres::testing::{admin_url, TestDatabase};
use portcullis_postgres::PostgresStore;
use sqlx::{Connection, PgConnection, Row};
use tokio::task::JoinSet;

const NOW: UnixTime = 1_900_000_000;

fn access(label: &str, family: &str, refresh: Option<&str>) -> AccessTokenRecord {
    AccessTokenRecord {
        hash: hash_token(label),
        family: family.to_owned(),
        client_id: "svc".to_owned(),
        subject: refresh.map(|_| "alice".to_owned()),
        scopes: ScopeSet::from_stored("notes:read"),
        issued_at: NOW,
        expires_at: NOW + 3600,
        revoked: false,
        refresh_hash: refresh.map(hash_token),
    }
}

fn refresh(label: &str, family: &str) -> RefreshTokenRecord {
    RefreshTokenRecord {
        hash: hash_token(label),
        family: family.to_owned(),
        client_id: "svc".to_owned(),
        subject: Some("alice".to_owned()),
        scopes: ScopeSet::from_stored("notes:read"),
        auth_time: Some(NOW - 10),
        issued_at: NOW,
        expires_at: NOW + 86_400,
    }
}

/// Run every job at once, each in a task of its own; the answers in the jobs' order.
async fn all<T: Send + 'static>(jobs: Vec<impl Future<Output = T> + Send + 'static>) -> Vec<T> {
    let mut tasks = JoinSet::new();
    for (i, job) in jobs.into_iter().enumerate() {
        tasks.spawn(async move { (i, job.await) });
    }
    let mut answers = Vec::new();
    while let Some(done) = tasks.join_next().await {
        answers.push(done.unwrap());
    }
    answers.sort_by_key(|(i, _)| *i);
    answers.into_iter().map(|(_, r)| r).collect()
}

/// Save every pair at once; the answers in the pairs' order.
async fn save_all(
    store: &Arc<PostgresStore>,
    pairs: Vec<(AccessTokenRecord, Option<RefreshTokenRecord>)>,
) -> Vec<Result<(), StoreError>> {
    let jobs = pairs.into_iter().map(|(at, rt)| {
        let store = Arc::clone(store);
        async move { store.save_tokens(&at, rt.as_ref()).await }
    });
    all(jobs.collect()).await
}

/// How many transactions wrote the rows of `table` with these token labels.
async fn writers(conn: &mut PgConnection, table: &str, labels: &[String]) -> i64 {
    let hashes: Vec<String> = labels.iter().map(|l| hash_token(l)).collect();
    let sql = format!("SELECT count(DISTINCT xmin::text) AS n FROM {table} WHERE hash = ANY($1)");
    sqlx::query(&sql).bind(&hashes).fetch_one(conn).await.unwrap().get("n")
}

async fn setup(test: &str) -> Option<(TestDatabase, Arc<PostgresStore>, PgConnection)> {
    let admin = admin_url(test)?;
    let db = TestDatabase::create(&admin).await;
    let store = db.store().await;
    let conn = PgConnection::connect(db.url()).await.unwrap();
    Some((db, store, conn))
}

#[tokio::test(flavor = "current_thread")]
async fn saves_that_queue_together_are_stored_in_one_transaction() {
    let Some((_db, store, mut conn)) = setup("group commit of token saves").await else { return };
    // 40 requests: access tokens alone, and pairs with a refresh token, in 40 families.
    let labels: Vec<String> = (0..40).map(|i| format!("at-{i}")).collect();
    let pairs = (0..40)
        .map(|i| {
            let family = format!("fam-{i}");
            if i % 2 == 0 {
                (access(&labels[i], &family, None), None)
            } else {
                let rt = format!("rt-{i}");
                (access(&labels[i], &family, Some(&rt)), Some(refresh(&rt, &family)))
            }
        })
        .collect();
    let answers = save_all(&store, pairs).await;
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert_eq!(writers(&mut conn, "access_tokens", &labels).await, 1, "one transaction stored them all");
    let rts: Vec<String> = (0..40).filter(|i| i % 2 == 1).map(|i| format!("rt-{i}")).collect();
    assert_eq!(writers(&mut conn, "refresh_tokens", &rts).await, 1);
    // Every row is what its request asked for.
    for (i, label) in labels.iter().enumerate() {
        let stored = store.get_access(&hash_token(label)).await.unwrap().unwrap();
        let family = format!("fam-{i}");
        let rt = (i % 2 == 1).then(|| format!("rt-{i}"));
        assert_eq!(stored, access(label, &family, rt.as_deref()));
        if let Some(rt) = rt {
            assert_eq!(store.get_refresh(&hash_token(&rt), NOW).await.unwrap(), Some(refresh(&rt, &family)));
        }
    }
    // A save alone is stored at once, on its own.
    store.save_tokens(&access("alone", "fam-alone", None), None).await.unwrap();
    assert!(store.get_access(&hash_token("alone")).await.unwrap().is_some());
}

#[tokio::test(flavor = "current_thread")]
async fn a_clashing_hash_in_a_batch_fails_only_its_own_request() {
    let Some((_db, store, mut conn)) = setup("group commit of token saves").await else { return };
    let taken = access("taken", "fam-taken", None);
    store.save_tokens(&taken, None).await.unwrap();
    let labels: Vec<String> = (0..8).map(|i| format!("ok-{i}")).collect();
    let mut pairs: Vec<_> = labels.iter().map(|l| (access(l, &format!("fam-{l}"), None), None)).collect();
    // The fourth request's token clashes with the stored one (another family, another scope).
    let mut clash = access("taken", "fam-other", None);
    clash.scopes = ScopeSet::from_stored("profile");
    pairs.insert(3, (clash, None));
    let answers = save_all(&store, pairs).await;
    for (i, answer) in answers.iter().enumerate() {
        if i == 3 {
            assert!(matches!(answer, Err(StoreError::Conflict(_))), "the clash: {answer:?}");
        } else {
            assert_eq!(answer, &Ok(()), "request {i}");
        }
    }
    // The batch rolled back and its requests were stored one by one.
    assert_eq!(writers(&mut conn, "access_tokens", &labels).await, 8);
    for l in &labels {
        assert!(store.get_access(&hash_token(l)).await.unwrap().is_some(), "{l} was stored");
    }
    assert_eq!(
        store.get_access(&hash_token("taken")).await.unwrap(),
        Some(taken),
        "the stored token is untouched"
    );
}

/// A batch racing revocations of some of its families: whichever commits first, the tokens
/// saved into a revoked family end up revoked, with their refresh tokens, and those of the
/// other families stay live. The batch takes every family's lock before it inserts, and its
/// INSERTs see what was committed while it waited.
#[tokio::test(flavor = "current_thread")]
async fn a_batch_racing_family_revocations_stores_revoked_families_revoked() {
    let Some((_db, store, mut conn)) = setup("group commit of token saves").await else { return };
    let mut saved_first = 0;
    for round in 0..60 {
        let families: Vec<String> = (0..6).map(|f| format!("r{round}-fam-{f}")).collect();
        // Each family's first token: a revocation marks only families that have rows.
        for f in &families {
            store.save_tokens(&access(&format!("{f}-first"), f, None), None).await.unwrap();
        }
        let labels: Vec<String> = families.iter().map(|f| format!("{f}-at")).collect();
        let pairs = families
            .iter()
            .zip(&labels)
            .map(|(f, l)| {
                let rt = format!("{f}-rt");
                (access(l, f, Some(&rt)), Some(refresh(&rt, f)))
            })
            .collect();
        // Families 1 and 4 are revoked while the batch is on its way.
        let mut revocations = JoinSet::new();
        for f in [&families[1], &families[4]] {
            let (store, f) = (Arc::clone(&store), f.clone());
            revocations.spawn(async move { store.revoke_family(&f).await.unwrap() });
        }
        let answers = save_all(&store, pairs).await;
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        while let Some(revoked) = revocations.join_next().await {
            // Three rows (the first token and the new pair): the batch committed first.
            saved_first += usize::from(revoked.unwrap() == 3);
        }
        // One transaction inserted them all (a revocation that came after rewrote its rows).
        let untouched: Vec<String> = [0, 2, 3, 5].map(|f| labels[f].clone()).to_vec();
        assert_eq!(writers(&mut conn, "access_tokens", &untouched).await, 1, "round {round}: one batch");
        for (f, family) in families.iter().enumerate() {
            let at = store.get_access(&hash_token(&format!("{family}-at"))).await.unwrap().unwrap();
            let rt = store.get_refresh(&hash_token(&format!("{family}-rt")), NOW).await.unwrap();
            let revoked = f == 1 || f == 4;
            assert_eq!(at.revoked, revoked, "round {round}, family {f}: access token");
            assert_eq!(rt.is_none(), revoked, "round {round}, family {f}: refresh token");
        }
    }
    eprintln!("the batch committed before the revocations in {saved_first} of 120 races");
}

/// Two nodes storing batches that share families, listed in opposite orders: each batch
/// takes its families' locks in one order (their keys'), so neither waits for the other in
/// a cycle. Taken in the batches' own orders, the two would deadlock, and PostgreSQL would
/// fail one of them after `deadlock_timeout`; its requests would then be stored one by one.
#[tokio::test(flavor = "current_thread")]
async fn batches_of_two_nodes_sharing_families_do_not_deadlock() {
    let Some((db, node_a, mut conn)) = setup("group commit of token saves").await else { return };
    let node_b = db.store().await;
    for round in 0..20 {
        let families: Vec<String> = (0..64).map(|f| format!("r{round}-shared-{f}")).collect();
        let batch = |node: &str, order: Vec<&String>| -> (Vec<String>, Vec<_>) {
            let labels: Vec<String> = order.iter().map(|f| format!("{f}-{node}")).collect();
            let pairs = order.iter().zip(&labels).map(|(f, l)| (access(l, f, None), None)).collect();
            (labels, pairs)
        };
        let (labels_a, pairs_a) = batch("a", families.iter().collect());
        let (labels_b, pairs_b) = batch("b", families.iter().rev().collect());
        let (a, b) = tokio::join!(save_all(&node_a, pairs_a), save_all(&node_b, pairs_b));
        assert!(a.iter().chain(&b).all(Result::is_ok), "round {round}: {a:?} {b:?}");
        assert_eq!(writers(&mut conn, "access_tokens", &labels_a).await, 1, "round {round}: node a's batch");
        assert_eq!(writers(&mut conn, "access_tokens", &labels_b).await, 1, "round {round}: node b's batch");
    }
}

// ------------------------------------------------------------------------- redemptions

/// A redemption to run: a code (`is_code`) or a refresh token by its label, and the tokens
/// to issue for it.
struct Redemption {
    is_code: bool,
    credential: String,
    access: AccessTokenRecord,
    refresh: Option<RefreshTokenRecord>,
}

/// Rotating the refresh token `label` of `family` into `<label>-at1` and `<label>-next`
/// (`suffix` tells apart the tokens of several attempts).
fn rotation(label: &str, family: &str, suffix: &str) -> Redemption {
    let next = format!("{label}-next{suffix}");
    Redemption {
        is_code: false,
        credential: label.to_owned(),
        access: access(&format!("{label}-at1{suffix}"), family, Some(&next)),
        refresh: Some(refresh(&next, family)),
    }
}

/// Exchanging the code `label` of `family` for `<label>-at` and `<label>-rt`.
fn exchange(label: &str, family: &str, suffix: &str) -> Redemption {
    let rt = format!("{label}-rt{suffix}");
    Redemption {
        is_code: true,
        credential: label.to_owned(),
        access: access(&format!("{label}-at{suffix}"), family, Some(&rt)),
        refresh: Some(refresh(&rt, family)),
    }
}

/// A refresh token `label` in `family`, saved with the access token issued with it.
async fn grant(store: &PostgresStore, label: &str, family: &str) {
    store
        .save_tokens(&access(&format!("{label}-at0"), family, Some(label)), Some(&refresh(label, family)))
        .await
        .unwrap();
}

/// An authorization code `label` in `family`.
async fn code(store: &PostgresStore, label: &str, family: &str) {
    let code = AuthorizationCode {
        hash: hash_token(label),
        family: family.to_owned(),
        client_id: "svc".to_owned(),
        subject: "alice".to_owned(),
        redirect_uri: "https://app.example/cb".to_owned(),
        redirect_uri_given: true,
        scopes: ScopeSet::from_stored("notes:read"),
        code_challenge: None,
        code_challenge_method: None,
        nonce: None,
        auth_time: Some(NOW - 10),
        issued_at: NOW,
        expires_at: NOW + 60,
    };
    store.create_code(&code).await.unwrap();
}

/// Run every redemption at once; the answers in their order.
async fn redeem_all(store: &Arc<PostgresStore>, redemptions: Vec<Redemption>) -> Vec<StoreResult<Take<()>>> {
    let jobs = redemptions.into_iter().map(|r| {
        let store = Arc::clone(store);
        async move {
            let hash = hash_token(&r.credential);
            if r.is_code {
                store.redeem_code(&hash, NOW, &r.access, r.refresh.as_ref()).await
            } else {
                store.rotate_refresh(&hash, NOW, &r.access, r.refresh.as_ref()).await
            }
        }
    });
    all(jobs.collect()).await
}

#[tokio::test(flavor = "current_thread")]
async fn redemptions_that_queue_together_are_one_transaction() {
    let Some((_db, store, mut conn)) = setup("group commit of redemptions").await else { return };
    let mut redemptions = Vec::new();
    for i in 0..30 {
        let (label, family) = (format!("cred-{i}"), format!("fam-{i}"));
        if i % 3 == 0 {
            code(&store, &label, &family).await;
            redemptions.push(exchange(&label, &family, ""));
        } else {
            grant(&store, &label, &family).await;
            redemptions.push(rotation(&label, &family, ""));
        }
    }
    let issued: Vec<String> = redemptions.iter().map(|r| r.access.hash.clone()).collect();
    let answers = redeem_all(&store, redemptions).await;
    assert!(answers.iter().all(|a| a == &Ok(Take::Fresh(()))), "{answers:?}");
    let hashes: Vec<String> = issued;
    let n: i64 =
        sqlx::query("SELECT count(DISTINCT xmin::text) AS n FROM access_tokens WHERE hash = ANY($1)")
            .bind(&hashes)
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get("n");
    assert_eq!(n, 1, "one transaction issued every token");
    for i in 0..30 {
        let (label, family) = (format!("cred-{i}"), format!("fam-{i}"));
        let hash = hash_token(&label);
        // Consumed: presenting it again is a replay of its family.
        let again = if i % 3 == 0 {
            store.take_code(&hash, NOW).await.unwrap().map(|_| ())
        } else {
            store.take_refresh(&hash, NOW).await.unwrap().map(|_| ())
        };
        assert_eq!(again, Take::Replayed { family: family.clone() }, "credential {i}");
        let issued = if i % 3 == 0 { format!("{label}-at") } else { format!("{label}-at1") };
        assert!(store.get_access(&hash_token(&issued)).await.unwrap().is_some(), "tokens of {i}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_credential_presented_twice_in_one_batch_is_a_replay_the_second_time() {
    let Some((_db, store, _conn)) = setup("group commit of redemptions").await else { return };
    grant(&store, "rt", "fam-rt").await;
    code(&store, "code", "fam-code").await;
    let redemptions = vec![
        rotation("rt", "fam-rt", "-first"),
        exchange("code", "fam-code", "-first"),
        rotation("rt", "fam-rt", "-second"),
        exchange("code", "fam-code", "-second"),
        rotation("never-issued", "fam-none", ""),
    ];
    let answers = redeem_all(&store, redemptions).await;
    assert_eq!(
        answers,
        vec![
            Ok(Take::Fresh(())),
            Ok(Take::Fresh(())),
            Ok(Take::Replayed { family: "fam-rt".into() }),
            Ok(Take::Replayed { family: "fam-code".into() }),
            Ok(Take::Unknown),
        ]
    );
    // Only the first attempts' tokens were stored.
    for (label, stored) in
        [("rt-at1-first", true), ("code-at-first", true), ("rt-at1-second", false), ("code-at-second", false)]
    {
        assert_eq!(store.get_access(&hash_token(label)).await.unwrap().is_some(), stored, "{label}");
    }
    assert!(store.get_access(&hash_token("never-issued-at1")).await.unwrap().is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn a_clash_in_a_redemption_batch_fails_only_its_own_request_and_consumes_nothing_of_it() {
    let Some((_db, store, _conn)) = setup("group commit of redemptions").await else { return };
    let families: Vec<String> = (0..6).map(|i| format!("fam-{i}")).collect();
    for (i, f) in families.iter().enumerate() {
        grant(&store, &format!("rt-{i}"), f).await;
    }
    let mut redemptions: Vec<Redemption> =
        families.iter().enumerate().map(|(i, f)| rotation(&format!("rt-{i}"), f, "")).collect();
    // The third rotation would issue an access token whose hash is already stored.
    redemptions[2].access.hash = hash_token("rt-0-at0");
    let answers = redeem_all(&store, redemptions).await;
    for (i, answer) in answers.iter().enumerate() {
        if i == 2 {
            assert!(matches!(answer, Err(StoreError::Conflict(_))), "the clash: {answer:?}");
        } else {
            assert_eq!(answer, &Ok(Take::Fresh(())), "rotation {i}");
        }
    }
    // Its refresh token was not consumed: the client still holds its grant.
    let kept = store.get_refresh(&hash_token("rt-2"), NOW).await.unwrap();
    assert_eq!(kept, Some(refresh("rt-2", &families[2])));
    assert_eq!(
        store
            .rotate_refresh(&hash_token("rt-2"), NOW, &rotation("rt-2", &families[2], "").access, None)
            .await,
        Ok(Take::Fresh(()))
    );
}

/// As `batches_of_two_nodes_sharing_families_do_not_deadlock`, for redemptions: two nodes
/// rotate refresh tokens of the same families, listed in opposite orders.
#[tokio::test(flavor = "current_thread")]
async fn redemption_batches_of_two_nodes_sharing_families_do_not_deadlock() {
    let Some((db, node_a, mut conn)) = setup("group commit of redemptions").await else { return };
    let node_b = db.store().await;
    for round in 0..10 {
        let families: Vec<String> = (0..64).map(|f| format!("r{round}-shared-{f}")).collect();
        for f in &families {
            grant(&node_a, &format!("{f}-a"), f).await;
            grant(&node_a, &format!("{f}-b"), f).await;
        }
        let batch = |node: &str, order: Vec<&String>| -> (Vec<String>, Vec<Redemption>) {
            let redemptions: Vec<Redemption> =
                order.iter().map(|f| rotation(&format!("{f}-{node}"), f, "")).collect();
            let labels = order.iter().map(|f| format!("{f}-{node}-at1")).collect();
            (labels, redemptions)
        };
        let (labels_a, redemptions_a) = batch("a", families.iter().collect());
        let (labels_b, redemptions_b) = batch("b", families.iter().rev().collect());
        let (a, b) = tokio::join!(redeem_all(&node_a, redemptions_a), redeem_all(&node_b, redemptions_b));
        assert!(a.iter().chain(&b).all(|r| r == &Ok(Take::Fresh(()))), "round {round}: {a:?} {b:?}");
        assert_eq!(writers(&mut conn, "access_tokens", &labels_a).await, 1, "round {round}: node a's batch");
        assert_eq!(writers(&mut conn, "access_tokens", &labels_b).await, 1, "round {round}: node b's batch");
    }
}
