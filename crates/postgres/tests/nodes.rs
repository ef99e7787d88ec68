//! What several nodes on one database rely on (issue #6): migrations that wait for each other
//! (sqlx's advisory lock) and a purge that splits work instead of repeating it
//! (`FOR UPDATE SKIP LOCKED`); a pool that survives the database dropping its connections.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use portcullis_core::model::secret::hash_token;
use portcullis_core::store::{AuthorizationStore, TokenStore};
use portcullis_core::{AuthorizationCode, ScopeSet, Store, Take};
use portcullis_postgres::testing::{admin_url, TestDatabase};
use portcullis_postgres::PostgresStore;
use sqlx::Connection;

const NOW: i64 = 1_700_000_000;

/// CRC-32 (ISO-HDLC, the zlib one), as sqlx uses to derive its migration lock id.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// sqlx's Postgres migration lock id for a database (sqlx-postgres `generate_lock_id`).
fn migration_lock_id(database: &str) -> i64 {
    0x3d32_ad9e * i64::from(crc32(database.as_bytes()))
}

#[test]
fn crc32_matches_the_reference() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrator_waits_for_the_advisory_lock() {
    let Some(admin) = admin_url("migrator_waits_for_the_advisory_lock") else { return };
    let db = TestDatabase::create(&admin).await;
    // Another node is migrating: it holds the lock.
    let mut other = sqlx::PgConnection::connect(db.url()).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(migration_lock_id(db.name()))
        .execute(&mut other)
        .await
        .unwrap();
    let store = PostgresStore::connect_without_migrations(db.url()).await.unwrap();
    let migrating = tokio::spawn(async move { store.migrate().await.map(|()| store) });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!migrating.is_finished(), "migrate must wait while another migrator holds the lock");
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(migration_lock_id(db.name()))
        .execute(&mut other)
        .await
        .unwrap();
    let store = tokio::time::timeout(Duration::from_secs(30), migrating)
        .await
        .expect("migrate must go on once the lock is free")
        .unwrap()
        .unwrap();
    store.ping().await.unwrap();
    // The migrator let go of the lock: the other node can take it at once.
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(migration_lock_id(db.name()))
        .fetch_one(&mut other)
        .await
        .unwrap();
    assert!(got, "migrate must release its advisory lock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_of_a_fresh_database_all_succeed_once() {
    let Some(admin) = admin_url("concurrent_migrations_of_a_fresh_database_all_succeed_once") else {
        return;
    };
    let db = TestDatabase::create(&admin).await;
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).unwrap().count();
    let fresh = PostgresStore::connect_without_migrations(db.url()).await.unwrap();
    assert_eq!(fresh.pending_migrations().await.unwrap().len(), files, "all pending on an empty database");
    const NODES: usize = 6;
    let barrier = Arc::new(tokio::sync::Barrier::new(NODES));
    let mut tasks = Vec::new();
    for _ in 0..NODES {
        let (url, barrier) = (db.url().to_owned(), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            let store = PostgresStore::connect_without_migrations(&url).await?;
            barrier.wait().await;
            store.migrate().await
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("every concurrent migrate succeeds");
    }
    let store = PostgresStore::connect_without_migrations(db.url()).await.unwrap();
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY 1")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(store.pending_migrations().await.unwrap(), Vec::<i64>::new());
    assert_eq!(applied.len(), files, "each migration applied exactly once: {applied:?}");
    assert!(applied.iter().all(|(_, ok)| *ok), "{applied:?}");
}

fn expired_code(label: &str, expires_at: i64) -> AuthorizationCode {
    AuthorizationCode {
        hash: hash_token(label),
        family: format!("fam-{label}"),
        client_id: "app".into(),
        subject: "alice".into(),
        redirect_uri: "https://app.example/cb".into(),
        redirect_uri_given: true,
        scopes: ScopeSet::from_stored("openid"),
        code_challenge: None,
        code_challenge_method: None,
        nonce: None,
        auth_time: None,
        issued_at: expires_at - 60,
        expires_at,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purge_skips_rows_another_node_is_purging() {
    let Some(admin) = admin_url("purge_skips_rows_another_node_is_purging") else { return };
    let db = TestDatabase::create(&admin).await;
    let store = db.store().await;
    let node_b = PostgresStore::connect_without_migrations(db.url()).await.unwrap();
    const BATCH: u32 = 5;
    for i in 0..(2 * BATCH) {
        store.create_code(&expired_code(&format!("c{i}"), NOW - 100 + i64::from(i))).await.unwrap();
    }
    // Node A is in the middle of a purge batch: it holds the oldest BATCH rows.
    let mut a = store.pool().begin().await.unwrap();
    let held: Vec<String> = sqlx::query_scalar(
        "SELECT hash FROM authorization_codes WHERE expires_at <= $1 \
         ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(NOW)
    .bind(i64::from(BATCH))
    .fetch_all(&mut *a)
    .await
    .unwrap();
    assert_eq!(held.len(), BATCH as usize);

    // Node B purges at the same time: it neither waits for A nor deletes A's rows.
    let n = tokio::time::timeout(Duration::from_secs(5), node_b.purge_expired(NOW, BATCH))
        .await
        .expect("a purge must not wait for rows another node is purging")
        .unwrap();
    assert_eq!(n, u64::from(BATCH), "node B purges the rows nobody else holds");
    assert_eq!(
        node_b.purge_expired(NOW, BATCH).await.unwrap(),
        0,
        "the rest is A's: B finds nothing free to purge"
    );
    a.commit().await.unwrap();
    for hash in &held {
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM authorization_codes WHERE hash = $1")
            .bind(hash)
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(left, 1, "B must not have touched a row A held");
    }
    assert_eq!(node_b.purge_expired(NOW, BATCH).await.unwrap(), u64::from(BATCH), "free again");
    assert_eq!(store.purge_expired(NOW, BATCH).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_purges_delete_each_row_once() {
    let Some(admin) = admin_url("concurrent_purges_delete_each_row_once") else { return };
    let db = TestDatabase::create(&admin).await;
    let store = db.store().await;
    const ROWS: u32 = 200;
    const BATCH: u32 = 25;
    for i in 0..ROWS {
        store.create_code(&expired_code(&format!("r{i}"), NOW - 1000 + i64::from(i))).await.unwrap();
    }
    let live = expired_code("live", NOW + 60);
    store.create_code(&live).await.unwrap();
    let mut nodes = Vec::new();
    for _ in 0..4 {
        let node: Arc<dyn Store> =
            Arc::new(PostgresStore::connect_without_migrations(db.url()).await.unwrap());
        nodes.push(tokio::spawn(async move {
            let mut total = 0;
            loop {
                let n = node.purge_expired(NOW, BATCH).await.unwrap();
                assert!(n <= u64::from(BATCH) * 4, "a batch is bounded: {n}");
                if n == 0 {
                    return total;
                }
                total += n;
            }
        }));
    }
    let mut total = 0;
    for n in nodes {
        total += n.await.unwrap();
    }
    assert_eq!(total, u64::from(ROWS), "every expired row deleted exactly once across the nodes");
    assert!(matches!(store.take_code(&live.hash, NOW).await.unwrap(), Take::Fresh(_)), "live code kept");
}

/// The pool pings only connections that sat idle (`PING_IDLE_AFTER`), not every connection
/// it hands out. When the database drops the pool's connections (a restart, an operator's
/// `pg_terminate_backend`, a failover), a call on a dropped connection fails with
/// `Unavailable` (the server answers 503 `temporarily_unavailable`), never with a backend
/// error, the connection is discarded, and the store recovers by itself: at most one failure
/// per dropped connection, then every call succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_the_database_drops_fail_once_and_are_replaced() {
    let Some(admin) = admin_url("a pool that survives dropped connections") else { return };
    let db = TestDatabase::create(&admin).await;
    let store = db.store().await;
    let hash = hash_token("a-refresh-token");
    // Several connections in the pool, all idle for less than the ping threshold.
    let reads: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            let hash = hash.clone();
            tokio::spawn(async move { store.get_refresh(&hash, NOW).await })
        })
        .collect();
    for r in reads {
        assert!(r.await.unwrap().unwrap().is_none());
    }
    let pooled = store.pool().size();
    let mut other = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let dropped: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND application_name IS DISTINCT FROM 'portcullis-listener'",
    )
    .fetch_all(&mut other)
    .await
    .unwrap();
    assert!(
        !dropped.is_empty() && dropped.iter().all(|d| *d),
        "the pool's connections were dropped: {dropped:?}"
    );
    let mut failures = 0;
    for _ in 0..(pooled + 5) {
        match store.get_refresh(&hash, NOW).await {
            Ok(found) => assert!(found.is_none()),
            Err(portcullis_core::StoreError::Unavailable(_)) => failures += 1,
            Err(other) => panic!("a dropped connection must answer Unavailable, not {other:?}"),
        }
    }
    assert!(failures <= pooled as usize, "{failures} failures for {pooled} dropped connections");
    for _ in 0..5 {
        assert!(store.get_refresh(&hash, NOW).await.unwrap().is_none(), "the store recovered");
    }
    eprintln!("{failures} calls failed on {} dropped connections", dropped.len());
}
