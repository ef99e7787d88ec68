//! The store conformance suite (portcullis-testkit) against SQLite: a real database file in WAL
//! mode, so concurrent takes really race across connections.

// Test setup fails loudly.
#![allow(clippy::expect_used)]

use std::sync::Arc;

use portcullis_core::Store;
use portcullis_sqlite::SqliteStore;

/// A fresh store in its own temporary directory; the directory lives as long as the test.
async fn file_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("portcullis.db").display());
    let store = SqliteStore::connect(&url).await.expect("connect to a new SQLite file");
    (Arc::new(store), dir)
}

portcullis_testkit::store_conformance_tests!(file_store());

/// The same suite on an in-memory database (one connection), as embedders use in tests.
mod memory {
    use super::*;

    portcullis_testkit::store_conformance_tests!(async {
        Arc::new(SqliteStore::connect("sqlite::memory:").await.expect("in-memory SQLite")) as Arc<dyn Store>
    });
}
