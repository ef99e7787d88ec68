//! The backend the end-to-end tests run on: SQLite by default, PostgreSQL with
//! `PORTCULLIS_TEST_BACKEND=postgres` and `PORTCULLIS_TEST_POSTGRES_URL` (an admin URL; each
//! `Database` gets a fresh database created from it and dropped afterwards). The tests
//! themselves are the same on both.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_postgres::testing::{self, TestDatabase};

/// Whether this run is on PostgreSQL (`PORTCULLIS_TEST_BACKEND=postgres`).
pub fn is_postgres() -> bool {
    testing::backend_is_postgres()
}

/// One test's database and a scratch directory to run the binary in.
pub struct Database {
    /// `--database-url` for the binary.
    pub url: String,
    /// Working directory (on SQLite, the database file lives here).
    pub dir: tempfile::TempDir,
    sqlite_file: Option<std::path::PathBuf>,
    // Dropped last: drops the PostgreSQL database.
    postgres: Option<TestDatabase>,
}

impl Database {
    /// A fresh, empty database on the selected backend.
    pub fn new() -> Self {
        Self::with_sqlite_file("portcullis.db")
    }

    /// Like [`Database::new`], naming the SQLite file.
    pub fn with_sqlite_file(file: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        if is_postgres() {
            let admin = testing::admin_url("end-to-end tests").expect("admin URL (panics when missing)");
            let db = TestDatabase::create_blocking(&admin);
            Database { url: db.url().to_owned(), dir, sqlite_file: None, postgres: Some(db) }
        } else {
            let path = dir.path().join(file);
            Database {
                url: format!("sqlite://{}", path.display()),
                dir,
                sqlite_file: Some(path),
                postgres: None,
            }
        }
    }

    /// Whether `needle` occurs anywhere in what the database stores: the file's bytes on
    /// SQLite, every row as text on PostgreSQL. For "only hashes are stored" checks.
    pub fn contains(&self, needle: &str) -> bool {
        match (&self.sqlite_file, &self.postgres) {
            (Some(path), _) => {
                // The write-ahead log holds recent writes until a checkpoint.
                let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
                [path.as_path(), wal.as_path()].iter().filter(|p| p.exists()).any(|p| {
                    let raw = std::fs::read(p).expect("read the SQLite file");
                    raw.windows(needle.len()).any(|w| w == needle.as_bytes())
                })
            }
            (None, Some(db)) => db.dump_text_blocking().contains(needle),
            (None, None) => unreachable!("a database is on one backend"),
        }
    }
}

impl Default for Database {
    fn default() -> Self {
        Self::new()
    }
}
