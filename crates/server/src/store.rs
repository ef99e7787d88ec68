//! Opening the store named by `database_url`.

use std::sync::Arc;

use portcullis_core::Store;

/// Open (and migrate) the store for a database URL, chosen by scheme.
pub async fn open(database_url: &str) -> Result<Arc<dyn Store>, String> {
    if database_url.starts_with("sqlite:") {
        let store = portcullis_sqlite::SqliteStore::connect(database_url)
            .await
            .map_err(|e| format!("cannot open {database_url}: {e}"))?;
        return Ok(Arc::new(store));
    }
    let scheme = database_url.split(':').next().unwrap_or("");
    Err(format!("unsupported database_url scheme {scheme:?}: use sqlite://FILE"))
}
