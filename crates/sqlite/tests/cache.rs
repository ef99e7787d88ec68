//! The read cache is never stale for long: a change committed through another store on the
//! same file (as the management CLI does from its own process) is seen by every read that
//! starts `OTHER_PROCESS_DELAY` (1 ms) after it committed; changes through the store itself
//! (its batched writer or its pool) are seen at once.

// Test setup fails loudly.
#![allow(clippy::unwrap_used)]

use portcullis_core::model::account::Account;
use portcullis_core::model::client::{AuthMethod, Client};
use portcullis_core::store::{AccountStore, ClientStore, ScopeStore, TokenFilter, TokenStore};
use portcullis_core::{AccessTokenRecord, ScopeDef, ScopeSet};
use portcullis_sqlite::{SqliteStore, OTHER_PROCESS_DELAY};

const NOW: i64 = 1_700_000_000;

async fn two_stores() -> (SqliteStore, SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("cache.db").display());
    let server = SqliteStore::connect(&url).await.unwrap();
    let cli = SqliteStore::connect(&url).await.unwrap();
    (server, cli, dir)
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

/// What a caller in another process waits, at least, between a commit and its next request
/// (the exit of the CLI alone takes longer).
async fn later() {
    tokio::time::sleep(OTHER_PROCESS_DELAY * 2).await;
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

#[tokio::test]
async fn client_changes_in_another_process_are_seen_after_the_delay() {
    let (server, cli, _dir) = two_stores().await;
    cli.create_client(&client("app", "before")).await.unwrap();
    for _ in 0..3 {
        assert_eq!(server.get_client("app").await.unwrap().map(|c| c.name), Some("before".into()));
    }
    cli.update_client(&client("app", "after")).await.unwrap();
    later().await;
    assert_eq!(server.get_client("app").await.unwrap().map(|c| c.name), Some("after".into()));
    assert!(cli.delete_client("app").await.unwrap());
    later().await;
    assert_eq!(server.get_client("app").await.unwrap(), None);
}

#[tokio::test]
async fn scope_changes_in_another_process_are_seen_after_the_delay() {
    let (server, cli, _dir) = two_stores().await;
    let def = |name: &str, is_default| ScopeDef {
        name: name.into(),
        description: "d".into(),
        is_default,
        translations: [("de".to_owned(), "D".to_owned())].into_iter().collect(),
    };
    cli.create_scope(&def("a", false)).await.unwrap();
    assert_eq!(server.list_scopes().await.unwrap().len(), 1);
    assert_eq!(server.list_scopes().await.unwrap().len(), 1);
    cli.create_scope(&def("b", true)).await.unwrap();
    later().await;
    assert_eq!(server.list_scopes().await.unwrap().len(), 2);
    cli.update_scope(&def("a", true)).await.unwrap();
    later().await;
    assert!(server.list_scopes().await.unwrap().iter().all(|s| s.is_default));
    assert!(cli.delete_scope("b").await.unwrap());
    later().await;
    assert_eq!(server.list_scopes().await.unwrap().len(), 1);
}

#[tokio::test]
async fn revocation_in_another_process_is_seen_after_the_delay() {
    let (server, cli, _dir) = two_stores().await;
    server.save_tokens(&token("t1"), None).await.unwrap();
    server.save_tokens(&token("t2"), None).await.unwrap();
    for _ in 0..3 {
        assert_eq!(server.get_access("t1").await.unwrap().map(|t| t.revoked), Some(false));
        assert_eq!(server.get_access("t2").await.unwrap().map(|t| t.revoked), Some(false));
    }
    // One by hash (the writer of the other store)…
    assert!(cli.revoke_access("t1").await.unwrap());
    later().await;
    assert_eq!(server.get_access("t1").await.unwrap().map(|t| t.revoked), Some(true));
    // …and in bulk, as `portcullis token revoke` does (the pool of the other store).
    let all = TokenFilter { client_id: Some("app".into()), subject: None };
    assert_eq!(cli.revoke_tokens(&all).await.unwrap(), 1);
    later().await;
    assert_eq!(server.get_access("t2").await.unwrap().map(|t| t.revoked), Some(true));
    // Removing the client removes its tokens.
    server.save_tokens(&token("t3"), None).await.unwrap();
    assert!(server.get_access("t3").await.unwrap().is_some());
    cli.create_client(&client("app", "x")).await.unwrap();
    cli.delete_client("app").await.unwrap();
    later().await;
    assert_eq!(server.get_access("t3").await.unwrap(), None);
}

#[tokio::test]
async fn batched_writes_from_many_tasks_all_commit() {
    let (server, _cli, _dir) = two_stores().await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let s = server.clone();
        tasks.push(tokio::spawn(async move { s.save_tokens(&token(&format!("h{i}")), None).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // A duplicate fails alone, without failing the others of its batch.
    let mut tasks = Vec::new();
    for i in 195..205 {
        let s = server.clone();
        tasks.push(tokio::spawn(async move { s.save_tokens(&token(&format!("h{i}")), None).await }));
    }
    let results: Vec<_> = futures_join(tasks).await;
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 5);
    let reopened = SqliteStore::connect_without_migrations(&format!(
        "sqlite://{}",
        _dir.path().join("cache.db").display()
    ))
    .await
    .unwrap();
    for i in 0..205 {
        assert!(reopened.get_access(&format!("h{i}")).await.unwrap().is_some(), "h{i}");
    }
}

async fn futures_join<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_write_waits_while_another_process_holds_the_write_lock() {
    let (server, _cli, dir) = two_stores().await;
    // Another process (here: a plain connection) holds the write lock for a while.
    let other = rusqlite::Connection::open(dir.path().join("cache.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE; UPDATE change_versions SET scopes = scopes WHERE id = 1;").unwrap();
    let holder = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        other.execute_batch("COMMIT").unwrap();
    });
    let started = std::time::Instant::now();
    let writes: Vec<_> = (0..8)
        .map(|i| {
            let s = server.clone();
            tokio::spawn(async move { s.save_tokens(&token(&format!("w{i}")), None).await })
        })
        .collect();
    for w in futures_join(writes).await {
        w.unwrap();
    }
    assert!(started.elapsed() >= std::time::Duration::from_millis(250), "the writes waited for the lock");
    holder.join().unwrap();
    for i in 0..8 {
        assert!(server.get_access(&format!("w{i}")).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn changes_through_the_same_store_are_seen_at_once() {
    let (server, _cli, _dir) = two_stores().await;
    // Nothing below may depend on the periodic check for other processes' commits.
    server.set_other_process_delay(std::time::Duration::from_secs(3600));
    // The pool (management operations)…
    server.create_client(&client("app", "before")).await.unwrap();
    assert_eq!(server.get_client("app").await.unwrap().map(|c| c.name), Some("before".into()));
    server.update_client(&client("app", "after")).await.unwrap();
    assert_eq!(server.get_client("app").await.unwrap().map(|c| c.name), Some("after".into()));
    // …and the batched writer (revocation at the endpoints), with no pause in between.
    server.save_tokens(&token("t1"), None).await.unwrap();
    assert_eq!(server.get_access("t1").await.unwrap().map(|t| t.revoked), Some(false));
    assert!(server.revoke_access("t1").await.unwrap());
    assert_eq!(server.get_access("t1").await.unwrap().map(|t| t.revoked), Some(true));
    let all = TokenFilter { client_id: Some("app".into()), subject: None };
    server.save_tokens(&token("t2"), None).await.unwrap();
    assert_eq!(server.get_access("t2").await.unwrap().map(|t| t.revoked), Some(false));
    assert_eq!(server.revoke_tokens(&all).await.unwrap(), 1);
    assert_eq!(server.get_access("t2").await.unwrap().map(|t| t.revoked), Some(true));
    server.save_tokens(&token("t3"), None).await.unwrap();
    assert_eq!(server.revoke_family("fam-t3").await.unwrap(), 1);
    assert_eq!(server.get_access("t3").await.unwrap().map(|t| t.revoked), Some(true));
    // Deleting an account revokes its tokens (the pool).
    let account = Account {
        id: "alice".into(),
        username: "alice".into(),
        password_hash: None,
        claims: Default::default(),
        created_at: NOW,
        updated_at: NOW,
    };
    server.create_account(&account).await.unwrap();
    server
        .save_tokens(&AccessTokenRecord { subject: Some("alice".into()), ..token("t4") }, None)
        .await
        .unwrap();
    assert_eq!(server.get_access("t4").await.unwrap().map(|t| t.revoked), Some(false));
    assert!(server.delete_account("alice").await.unwrap());
    assert_eq!(server.get_access("t4").await.unwrap().map(|t| t.revoked), Some(true));
}
