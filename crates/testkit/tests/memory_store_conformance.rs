//! MemoryStore keeps the same store rules as the SQL backends: the conformance suite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

portcullis_testkit::store_conformance_tests!(async { Arc::new(portcullis_testkit::MemoryStore::new()) });
