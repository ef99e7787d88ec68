//! The token tables' queries by refresh token, by family and by subject are served by an
//! index (migration 0007 dropped `access_tokens.refresh_hash`'s and made the subject indexes
//! partial; migration 0008 left lone access tokens out of the family index). The tables of a
//! test are tiny, so the planner would scan them anyway; with sequential scans disabled it
//! still chooses one only when no index can answer the query.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_postgres::testing::{
    admin_url, TestDatabase, MARK_REVOKED_FAMILY, REVOKE_FAMILY_ACCESS, REVOKE_ISSUED_WITH_REFRESH,
};
use sqlx::{Connection, Executor, PgConnection, Row};

/// The plan of `sql` (with its parameters typed `text`), one line per node.
async fn plan(conn: &mut PgConnection, sql: &str) -> String {
    conn.execute("SET enable_seqscan = off").await.unwrap();
    conn.execute(format!("PREPARE q(text) AS {sql}").as_str()).await.unwrap();
    // A generic plan: the one a prepared statement with unknown parameters gets.
    conn.execute("SET plan_cache_mode = force_generic_plan").await.unwrap();
    let rows = sqlx::query("EXPLAIN EXECUTE q('x')").fetch_all(&mut *conn).await.unwrap();
    conn.execute("DEALLOCATE q").await.unwrap();
    rows.iter().map(|r| r.get::<String, _>(0)).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn token_queries_by_refresh_token_and_by_subject_use_an_index() {
    let Some(admin) = admin_url("the token tables' indexes") else { return };
    let db = TestDatabase::create(&admin).await;
    let _store = db.store().await; // migrated
    let mut conn = PgConnection::connect(db.url()).await.unwrap();
    for sql in [
        // revoke_refresh: the access tokens issued with a refresh token.
        REVOKE_ISSUED_WITH_REFRESH,
        // revoke_family: the partial family index (migration 0008) or the key.
        MARK_REVOKED_FAMILY,
        REVOKE_FAMILY_ACCESS[0],
        REVOKE_FAMILY_ACCESS[1],
        // Account deletion, and listing or revoking by subject.
        "UPDATE access_tokens SET revoked = TRUE WHERE subject = $1 AND NOT revoked",
        "UPDATE refresh_tokens SET revoked = TRUE WHERE subject = $1 AND NOT revoked",
        "SELECT hash FROM access_tokens WHERE NOT revoked AND subject = $1",
    ] {
        let plan = plan(&mut conn, sql).await;
        assert!(!plan.contains("Seq Scan"), "{sql}\n{plan}");
    }
    // The indexes the migration left.
    let indexes: Vec<String> =
        sqlx::query("SELECT indexname FROM pg_indexes WHERE tablename = 'access_tokens' ORDER BY indexname")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
    assert_eq!(
        indexes,
        [
            "access_tokens_client_id",
            "access_tokens_expires_at",
            "access_tokens_family",
            "access_tokens_pkey",
            "access_tokens_subject"
        ]
    );
}
