//! The store conformance suite (portcullis-testkit) against PostgreSQL: each check gets a
//! database of its own, created from `PORTCULLIS_TEST_POSTGRES_URL` and dropped afterwards.
//! Without that variable the checks are skipped with a note (unless
//! `PORTCULLIS_TEST_BACKEND=postgres`, which makes a missing URL an error).

use std::sync::Arc;

use portcullis_postgres::testing::{admin_url, TestDatabase};
use portcullis_postgres::PostgresStore;

/// A fresh, migrated store on a database of its own; the database lives as long as the guard.
async fn fresh_store() -> Option<(Arc<PostgresStore>, TestDatabase)> {
    let admin = admin_url("the PostgreSQL store conformance suite")?;
    let db = TestDatabase::create(&admin).await;
    let store = db.store().await;
    Some((store, db))
}

portcullis_testkit::store_conformance_tests!(fresh_store());
