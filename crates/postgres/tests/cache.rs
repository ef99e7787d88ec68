//! The PostgreSQL read cache (`src/cache.rs`) with two stores on one database playing two
//! nodes. What one node changes reaches the other's cache through the change notification
//! (the observing node's counter recheck is set to an hour, so nothing else could carry it);
//! what a node changes itself it sees at once, with its listener deaf; and a node whose
//! listener connection is killed stops using its cache until it listens again.
//!
//! Each test first checks that the value it expects to go stale is really in the observing
//! node's cache (`cached_*`), so a pass means the cache was involved, not bypassed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::time::{Duration, Instant};

use portcullis_core::model::account::Account;
use portcullis_core::store::{AccountStore, ClientStore, ScopeStore, TokenFilter, TokenStore};
use portcullis_core::{AccessTokenRecord, AuthMethod, Client, ScopeDef, ScopeSet, Store};
use portcullis_postgres::testing::{admin_url, TestDatabase};
use portcullis_postgres::PostgresStore;
use sqlx::postgres::PgListener;

const NOW: i64 = 1_700_000_000;
/// How long a change may take to reach the other node before a test fails. Notifications
/// arrive in milliseconds; the margin is for a loaded machine.
const DEADLINE: Duration = Duration::from_secs(5);
/// "Never" for the counter recheck: only a notification (or the node's own write) may
/// change what the observing node's cache answers.
const NEVER: Duration = Duration::from_secs(3600);

/// Two nodes on a fresh database; `a` observes, with its recheck off and its listener live.
async fn two_nodes(test: &str) -> Option<(PostgresStore, PostgresStore, TestDatabase)> {
    let admin = admin_url(test)?;
    let db = TestDatabase::create(&admin).await;
    let a = PostgresStore::connect(db.url()).await.unwrap();
    let b = PostgresStore::connect(db.url()).await.unwrap();
    a.set_other_node_delay(NEVER);
    wait_until("node a listens", || async { a.read_cache_live() }).await;
    wait_until("node b listens", || async { b.read_cache_live() }).await;
    Some((a, b, db))
}

/// Poll `check` until it holds; fail the test after [`DEADLINE`].
async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < DEADLINE, "{what}: not within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn client(id: &str, name: &str) -> Client {
    Client {
        id: id.into(),
        name: name.into(),
        secret: None,
        redirect_uris: vec!["https://app.example/cb".into()],
        grant_types: vec!["authorization_code".into()],
        scopes: ScopeSet::from_stored("a b"),
        auth_method: AuthMethod::None,
        trusted: false,
        access_token_lifetime: None,
        refresh_token_lifetime: None,
        authorization_code_lifetime: None,
        access_token_format: Default::default(),
        created_at: NOW,
        updated_at: NOW,
    }
}

fn scope(name: &str, is_default: bool) -> ScopeDef {
    ScopeDef {
        name: name.into(),
        description: "d".into(),
        is_default,
        translations: [("de".to_owned(), "D".to_owned())].into_iter().collect(),
    }
}

fn token(hash: &str) -> AccessTokenRecord {
    AccessTokenRecord {
        hash: hash.into(),
        family: format!("fam-{hash}"),
        client_id: "app".into(),
        subject: None,
        scopes: ScopeSet::from_stored("a"),
        issued_at: NOW,
        expires_at: NOW + 3600,
        revoked: false,
        refresh_hash: None,
    }
}

async fn name_at(store: &PostgresStore, id: &str) -> Option<String> {
    store.get_client(id).await.unwrap().map(|c| c.name)
}

async fn revoked_at(store: &PostgresStore, hash: &str) -> Option<bool> {
    store.get_access(hash).await.unwrap().map(|t| t.revoked)
}

async fn scope_names(store: &PostgresStore) -> Vec<(String, bool)> {
    store.list_scopes().await.unwrap().into_iter().map(|s| (s.name, s.is_default)).collect()
}

/// Read a token through `a` until it is cached, and check that it is.
async fn cache_token(a: &PostgresStore, hash: &str) {
    assert_eq!(revoked_at(a, hash).await, Some(false));
    assert_eq!(a.cached_access(hash).map(|t| t.revoked), Some(false), "{hash} is cached live at a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_changes_on_another_node_reach_the_cache_through_notifications() {
    let Some((a, b, _db)) =
        two_nodes("client_changes_on_another_node_reach_the_cache_through_notifications").await
    else {
        return;
    };
    b.create_client(&client("app", "before")).await.unwrap();
    assert_eq!(name_at(&a, "app").await.as_deref(), Some("before"));
    assert_eq!(a.cached_client("app").map(|c| c.name).as_deref(), Some("before"), "cached at a");
    // Shared reads (what client authentication calls) come from the same cache.
    let shared = a.get_client_shared("app").await.unwrap().unwrap();
    assert_eq!(shared.name, "before");

    b.update_client(&client("app", "after")).await.unwrap();
    wait_until("a sees the update", || async { name_at(&a, "app").await.as_deref() == Some("after") }).await;
    assert_eq!(a.cached_client("app").map(|c| c.name).as_deref(), Some("after"), "refilled at a");

    assert!(b.delete_client("app").await.unwrap());
    wait_until("a sees the deletion", || async { name_at(&a, "app").await.is_none() }).await;
    assert!(a.cached_client("app").is_none(), "a missing client is not cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_changes_on_another_node_reach_the_cache_through_notifications() {
    let Some((a, b, _db)) =
        two_nodes("scope_changes_on_another_node_reach_the_cache_through_notifications").await
    else {
        return;
    };
    b.create_scope(&scope("a", false)).await.unwrap();
    assert_eq!(scope_names(&a).await, [("a".to_owned(), false)]);
    assert_eq!(a.cached_scopes().map(|s| s.len()), Some(1), "the scope list is cached at a");

    b.create_scope(&scope("b", true)).await.unwrap();
    wait_until("a sees the new scope", || async { scope_names(&a).await.len() == 2 }).await;
    b.update_scope(&scope("a", true)).await.unwrap();
    wait_until("a sees the update", || async { scope_names(&a).await.iter().all(|(_, d)| *d) }).await;
    assert!(b.delete_scope("b").await.unwrap());
    wait_until("a sees the deletion", || async { scope_names(&a).await == [("a".to_owned(), true)] }).await;
    let shared = a.list_scopes_shared().await.unwrap();
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0].translations.get("de").map(String::as_str), Some("D"));
    assert_eq!(a.cached_scopes().map(|s| s.len()), Some(1), "refilled at a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_on_another_node_reach_the_cache_through_notifications() {
    let Some((a, b, _db)) =
        two_nodes("revocations_on_another_node_reach_the_cache_through_notifications").await
    else {
        return;
    };
    for h in ["t1", "t2", "t3"] {
        b.save_tokens(&token(h), None).await.unwrap();
        cache_token(&a, h).await;
    }
    // RFC 7009 revocation of one token…
    assert!(b.revoke_access("t1").await.unwrap());
    wait_until("a sees t1 revoked", || async { revoked_at(&a, "t1").await == Some(true) }).await;
    // …a replay's family revocation…
    assert_eq!(b.revoke_family("fam-t2").await.unwrap(), 1);
    wait_until("a sees t2's family revoked", || async { revoked_at(&a, "t2").await == Some(true) }).await;
    // …and `portcullis token revoke --client`.
    let by_client = TokenFilter { client_id: Some("app".into()), subject: None };
    assert_eq!(b.revoke_tokens(&by_client).await.unwrap(), 1);
    wait_until("a sees t3 revoked", || async { revoked_at(&a, "t3").await == Some(true) }).await;

    // Deleting an account revokes its tokens.
    let account = Account {
        id: "alice".into(),
        username: "alice".into(),
        password_hash: None,
        claims: Default::default(),
        created_at: NOW,
        updated_at: NOW,
    };
    b.create_account(&account).await.unwrap();
    b.save_tokens(&AccessTokenRecord { subject: Some("alice".into()), ..token("t4") }, None).await.unwrap();
    cache_token(&a, "t4").await;
    assert!(b.delete_account("alice").await.unwrap());
    wait_until("a sees t4 revoked", || async { revoked_at(&a, "t4").await == Some(true) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_on_another_node_reach_the_cache_through_notifications() {
    let Some((a, b, _db)) =
        two_nodes("deletions_on_another_node_reach_the_cache_through_notifications").await
    else {
        return;
    };
    // The purge deletes expired tokens (this one expires at NOW + 3600).
    b.save_tokens(&token("old"), None).await.unwrap();
    cache_token(&a, "old").await;
    assert!(b.purge_expired(NOW + 7200, 100).await.unwrap() >= 1);
    wait_until("a sees the purge", || async { a.get_access("old").await.unwrap().is_none() }).await;
    assert!(a.cached_access("old").is_none());

    // Deleting a client deletes its tokens.
    b.create_client(&client("app", "x")).await.unwrap();
    b.save_tokens(&token("t5"), None).await.unwrap();
    cache_token(&a, "t5").await;
    assert!(b.delete_client("app").await.unwrap());
    wait_until("a sees t5 deleted", || async { a.get_access("t5").await.unwrap().is_none() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_through_the_same_node_are_seen_at_once() {
    let Some((a, b, _db)) = two_nodes("changes_through_the_same_node_are_seen_at_once").await else {
        return;
    };
    // Deaf to notifications, with the recheck off: only a's own writes move its cache.
    a.hold_listener(true);

    a.create_client(&client("app", "before")).await.unwrap();
    assert_eq!(name_at(&a, "app").await.as_deref(), Some("before"));
    assert_eq!(a.cached_client("app").map(|c| c.name).as_deref(), Some("before"));
    a.update_client(&client("app", "after")).await.unwrap();
    assert_eq!(name_at(&a, "app").await.as_deref(), Some("after"));

    a.create_scope(&scope("a", false)).await.unwrap();
    assert_eq!(scope_names(&a).await, [("a".to_owned(), false)]);
    assert!(a.cached_scopes().is_some());
    a.update_scope(&scope("a", true)).await.unwrap();
    assert_eq!(scope_names(&a).await, [("a".to_owned(), true)]);
    a.create_scope(&scope("b", false)).await.unwrap();
    assert_eq!(scope_names(&a).await.len(), 2);
    assert!(a.delete_scope("b").await.unwrap());
    assert_eq!(scope_names(&a).await.len(), 1);

    for h in ["t1", "t2", "t3", "t4", "t5"] {
        a.save_tokens(&token(h), None).await.unwrap();
        cache_token(&a, h).await;
    }
    assert!(a.revoke_access("t1").await.unwrap());
    assert_eq!(revoked_at(&a, "t1").await, Some(true));
    assert_eq!(a.revoke_family("fam-t2").await.unwrap(), 1);
    assert_eq!(revoked_at(&a, "t2").await, Some(true));
    let by_client = TokenFilter { client_id: Some("app".into()), subject: None };
    assert_eq!(a.revoke_tokens(&by_client).await.unwrap(), 3);
    assert_eq!(revoked_at(&a, "t3").await, Some(true));
    assert!(a.purge_expired(NOW + 7200, 100).await.unwrap() >= 5);
    assert_eq!(a.get_access("t4").await.unwrap(), None);
    let account = Account {
        id: "alice".into(),
        username: "alice".into(),
        password_hash: None,
        claims: Default::default(),
        created_at: NOW,
        updated_at: NOW,
    };
    a.create_account(&account).await.unwrap();
    a.save_tokens(&AccessTokenRecord { subject: Some("alice".into()), ..token("t6") }, None).await.unwrap();
    cache_token(&a, "t6").await;
    assert!(a.delete_account("alice").await.unwrap());
    assert_eq!(revoked_at(&a, "t6").await, Some(true));
    a.save_tokens(&token("t7"), None).await.unwrap();
    cache_token(&a, "t7").await;
    assert!(a.delete_client("app").await.unwrap());
    assert_eq!(name_at(&a, "app").await, None);
    assert_eq!(a.get_access("t7").await.unwrap(), None);

    // The control: what the other node changes stays unseen by this deaf node…
    b.create_client(&client("other", "before")).await.unwrap();
    assert_eq!(name_at(&a, "other").await.as_deref(), Some("before"));
    b.update_client(&client("other", "after")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(name_at(&a, "other").await.as_deref(), Some("before"), "served from a's cache");
    // …until a read is due to check the counters itself (OTHER_NODE_DELAY, here zero).
    a.set_other_node_delay(Duration::ZERO);
    assert_eq!(name_at(&a, "other").await.as_deref(), Some("after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listener_turns_the_cache_off_until_it_listens_again() {
    let Some((a, b, _db)) = two_nodes("a_lost_listener_turns_the_cache_off_until_it_listens_again").await
    else {
        return;
    };
    let kill = |pid: i32| {
        let pool = b.pool().clone();
        async move {
            let done: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
                .bind(pid)
                .fetch_one(&pool)
                .await
                .unwrap();
            assert!(done, "the listener's backend {pid} was terminated");
        }
    };
    b.create_client(&client("app", "before")).await.unwrap();
    assert_eq!(name_at(&a, "app").await.as_deref(), Some("before"));
    assert_eq!(a.cached_client("app").map(|c| c.name).as_deref(), Some("before"));

    // The listener's connection dies, and stays down (held) for a while.
    a.hold_listener(true);
    let first = a.listener_pid().unwrap();
    kill(first).await;
    wait_until("a notices the loss", || async { !a.read_cache_live() }).await;

    // A change nobody notifies a of: a's reads go to the database, past the stale entry.
    b.update_client(&client("app", "during")).await.unwrap();
    assert_eq!(name_at(&a, "app").await.as_deref(), Some("during"), "seen at once while down");
    assert_eq!(
        a.cached_client("app").map(|c| c.name).as_deref(),
        Some("before"),
        "the stale entry is still there, and was not used"
    );
    b.save_tokens(&token("t1"), None).await.unwrap();
    assert_eq!(revoked_at(&a, "t1").await, Some(false));
    assert!(a.cached_access("t1").is_none(), "nothing is cached while the listener is down");

    // Back: the cache starts over (the stale entry is gone) and fills again.
    a.hold_listener(false);
    wait_until("a listens again", || async { a.read_cache_live() }).await;
    let second = a.listener_pid().unwrap();
    assert_ne!(first, second, "a new connection");
    assert_ne!(a.cached_client("app").map(|c| c.name).as_deref(), Some("before"));
    assert_eq!(name_at(&a, "app").await.as_deref(), Some("during"));
    assert_eq!(a.cached_client("app").map(|c| c.name).as_deref(), Some("during"), "caching resumed");
    b.update_client(&client("app", "after")).await.unwrap();
    wait_until("a sees the next change", || async { name_at(&a, "app").await.as_deref() == Some("after") })
        .await;

    // Killed again without holding it: the listener reconnects by itself (after its backoff)
    // and notifications flow again.
    kill(second).await;
    wait_until("a listens on a third connection", || async {
        a.read_cache_live() && a.listener_pid().is_some_and(|pid| pid != second)
    })
    .await;
    assert_eq!(name_at(&a, "app").await.as_deref(), Some("after"));
    assert_eq!(a.cached_client("app").map(|c| c.name).as_deref(), Some("after"));
    b.update_client(&client("app", "last")).await.unwrap();
    wait_until("a sees the change after the reconnect", || async {
        name_at(&a, "app").await.as_deref() == Some("last")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_the_read_cache_reads_the_database_every_time() {
    let Some(admin) = admin_url("a_store_without_the_read_cache_reads_the_database_every_time") else {
        return;
    };
    let db = TestDatabase::create(&admin).await;
    let on = PostgresStore::connect(db.url()).await.unwrap();
    let off = PostgresStore::connect_without_migrations(db.url()).await.unwrap();
    on.create_client(&client("app", "before")).await.unwrap();
    assert_eq!(name_at(&off, "app").await.as_deref(), Some("before"));
    assert!(!off.read_cache_live() && off.cached_client("app").is_none(), "off until started");
    on.update_client(&client("app", "after")).await.unwrap();
    assert_eq!(name_at(&off, "app").await.as_deref(), Some("after"));
    // Started once the schema is known to be current, it caches.
    let off = off.start_read_cache().unwrap();
    wait_until("the started cache listens", || async { off.read_cache_live() }).await;
    assert_eq!(name_at(&off, "app").await.as_deref(), Some("after"));
    assert!(off.cached_client("app").is_some());
}

/// The counters of migration 0002, read straight from the table.
async fn counters(store: &PostgresStore) -> (i64, i64, i64) {
    sqlx::query_as("SELECT clients, scopes, access_tokens FROM change_versions")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_once_per_committed_change_and_notify_once() {
    let Some(admin) = admin_url("counters_move_once_per_committed_change_and_notify_once") else {
        return;
    };
    let db = TestDatabase::create(&admin).await;
    let store = PostgresStore::connect(db.url()).await.unwrap();
    let pool = store.pool().clone();
    let mut listener = PgListener::connect(db.url()).await.unwrap();
    listener.listen("portcullis_changes").await.unwrap();
    let exec = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query(sql).execute(&pool).await.unwrap().rows_affected() }
    };
    assert_eq!(counters(&store).await, (0, 0, 0));

    // Statements that touch no row work, and change nothing.
    assert_eq!(exec("UPDATE access_tokens SET revoked = TRUE WHERE hash = 'none'").await, 0);
    assert_eq!(exec("DELETE FROM clients WHERE id = 'none'").await, 0);
    assert_eq!(
        store.revoke_tokens(&TokenFilter { client_id: Some("none".into()), subject: None }).await,
        Ok(0)
    );
    assert_eq!(store.purge_expired(NOW, 100).await, Ok(0));
    assert_eq!(counters(&store).await, (0, 0, 0));

    // New tokens were never cached: inserting them moves nothing.
    for h in ["t1", "t2", "t3"] {
        store.save_tokens(&token(h), None).await.unwrap();
    }
    assert_eq!(counters(&store).await, (0, 0, 0));

    // One transaction changing many rows of several aggregates: one bump each, at commit, and
    // one notification per aggregate.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("UPDATE access_tokens SET revoked = TRUE").execute(&mut *tx).await.unwrap();
    sqlx::query("INSERT INTO scopes (name, description) VALUES ('a', 'd'), ('b', 'd')")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("DELETE FROM scopes WHERE name = 'b'").execute(&mut *tx).await.unwrap();
    assert_eq!(counters(&store).await, (0, 0, 0), "not before the commit");
    tx.commit().await.unwrap();
    assert_eq!(counters(&store).await, (0, 1, 1));
    let mut payloads = Vec::new();
    for _ in 0..2 {
        let n = tokio::time::timeout(DEADLINE, listener.recv()).await.unwrap().unwrap();
        payloads.push(n.payload().to_owned());
    }
    payloads.sort();
    assert_eq!(payloads, ["access_tokens", "scopes"]);

    // An update that changes nothing (revoking revoked tokens) moves nothing; a rolled-back
    // change neither.
    assert!(store.revoke_access("t1").await.unwrap());
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("DELETE FROM access_tokens").execute(&mut *tx).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(counters(&store).await, (0, 1, 1));
    store.create_client(&client("app", "x")).await.unwrap();
    assert_eq!(counters(&store).await, (1, 1, 1));
    let n = tokio::time::timeout(DEADLINE, listener.recv()).await.unwrap().unwrap();
    assert_eq!(n.payload(), "clients", "nothing was notified for what changed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_locks_the_counters_only_while_it_commits() {
    let Some(admin) = admin_url("a_change_locks_the_counters_only_while_it_commits") else {
        return;
    };
    let db = TestDatabase::create(&admin).await;
    let store = PostgresStore::connect(db.url()).await.unwrap();
    let pool = store.pool().clone();
    store.create_client(&client("app", "x")).await.unwrap();
    for h in ["t1", "t2"] {
        store.save_tokens(&AccessTokenRecord { family: "fam".into(), ..token(h) }, None).await.unwrap();
    }
    let before = counters(&store).await;
    // A client deletion has deleted the client and goes on to its tokens, while a revocation
    // of their family holds them. Were the counters bumped (and their row locked) at the end
    // of each statement, the revocation would now wait for the deletion's counter lock, and
    // the deletion for the revocation's token rows: a deadlock. Bumped at commit, the
    // revocation goes through, then the deletion.
    let mut deletion = pool.begin().await.unwrap();
    sqlx::query("DELETE FROM clients WHERE id = 'app'").execute(&mut *deletion).await.unwrap();
    let mut revocation = pool.begin().await.unwrap();
    let revoked = tokio::time::timeout(
        DEADLINE,
        sqlx::query("UPDATE access_tokens SET revoked = TRUE WHERE family = 'fam'").execute(&mut *revocation),
    )
    .await
    .expect("the revocation does not wait for the deletion's counters")
    .unwrap();
    assert_eq!(revoked.rows_affected(), 2);
    let tokens_deleted = tokio::spawn(async move {
        let done = sqlx::query("DELETE FROM access_tokens WHERE client_id = 'app'")
            .execute(&mut *deletion)
            .await
            .unwrap()
            .rows_affected();
        deletion.commit().await.unwrap();
        done
    });
    tokio::time::timeout(DEADLINE, revocation.commit()).await.expect("the revocation commits").unwrap();
    let deleted =
        tokio::time::timeout(DEADLINE, tokens_deleted).await.expect("the deletion commits").unwrap();
    assert_eq!(deleted, 2);
    assert_eq!(counters(&store).await, (before.0 + 1, before.1, before.2 + 2));
}

/// The listener's connection is named after the application the URL names, so operators can
/// tell it apart from the pool's connections in `pg_stat_activity` without losing their own
/// name; without one in the URL it is `portcullis-listener`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_keeps_the_application_name_of_the_url() {
    let Some(admin) = admin_url("the listener's application_name") else { return };
    let db = TestDatabase::create(&admin).await;
    let named = PostgresStore::connect(&format!("{}?application_name=billing", db.url())).await.unwrap();
    let plain = db.store().await;
    let names = || async {
        let mut names: Vec<String> = sqlx::query_scalar(
            "SELECT application_name FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name LIKE '%portcullis-listener%'",
        )
        .fetch_all(plain.pool())
        .await
        .unwrap();
        names.sort();
        names
    };
    wait_until("both listeners connected", || async { names().await.len() == 2 }).await;
    assert_eq!(names().await, ["billing (portcullis-listener)", "portcullis-listener"]);
    drop(named);
}
