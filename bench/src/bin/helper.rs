//! `bench-helper`: what `bench/run` needs besides the `portcullis` binary itself.
//!
//! - `api`: an application embedding Portcullis: the machine endpoints plus the notes API's
//!   `GET /notes` behind `BearerLayer::local` (in-process verification against the same
//!   store, the embedding case; remote introspection is measured by the introspection rows).
//! - `codes`: pre-mint authorization codes through the core API
//!   (`OAuthServer::issue_authorization_code`, as the authorization endpoint does after
//!   consent) against the benchmark's SQLite file, and write them one per line.
//! - `refresh`: mint refresh tokens through the store API (`TokenStore::save_tokens`, as the
//!   token endpoint does) to seed the refresh-rotation chains.
//! - `seed`: bulk-insert live access tokens straight into the SQLite file (hashes only, the
//!   schema of `crates/sqlite/migrations`); the first `--known` of them are real tokens whose
//!   values are written out, the rest are random hashes.
//!
//! Loopback only: `api` refuses a non-loopback listen address.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use clap::{Parser, Subcommand};
use portcullis_axum::{Authenticated, BearerLayer};
use portcullis_core::model::secret::{generate, hash_token, ordered_id, random_id, TokenKind};
use portcullis_core::pkce::CodeChallengeMethod;
use portcullis_core::{
    AccessTokenRecord, Builder, Config, NewAuthorizationCode, OAuthServer, RefreshTokenRecord, ScopeSet,
    Store, TokenInfo,
};
use portcullis_postgres::PostgresStore;
use portcullis_sqlite::SqliteStore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The same allocator as the `portcullis` binary, so the comparison is like for like.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Parser)]
#[command(name = "bench-helper", about = "Benchmark helpers for Portcullis (see bench/README.md)")]
struct Cli {
    /// The benchmark's database, e.g. sqlite:///tmp/bench/portcullis.db.
    #[arg(long, global = true, default_value = "sqlite://bench.db")]
    database_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the machine endpoints and `GET /notes` behind `BearerLayer::local`.
    Api {
        /// Loopback address to listen on (port 0 picks one).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Issue authorization codes (PKCE S256) through the core API; write them one per line.
    Codes {
        #[arg(long)]
        client_id: String,
        #[arg(long)]
        subject: String,
        #[arg(long)]
        redirect_uri: String,
        #[arg(long)]
        scope: String,
        /// The code_verifier the exchange will send (the same for every code).
        #[arg(long)]
        verifier: String,
        #[arg(long)]
        count: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Mint refresh tokens (with their access tokens) through the store API; write the
    /// refresh tokens one per line.
    Refresh {
        #[arg(long)]
        client_id: String,
        #[arg(long)]
        subject: String,
        #[arg(long)]
        scope: String,
        #[arg(long)]
        count: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Bulk-insert `--total` live access tokens (hashes only); write the first `--known`
    /// tokens' values one per line.
    Seed {
        #[arg(long)]
        client_id: String,
        #[arg(long)]
        scope: String,
        #[arg(long)]
        total: usize,
        #[arg(long)]
        known: usize,
        #[arg(long)]
        out: PathBuf,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Command::Refresh { client_id, subject, scope, count, out } = &cli.command {
        // The one command that also runs on PostgreSQL (the `--postgres` refresh row).
        let store: Arc<dyn Store> = if portcullis_postgres::is_postgres_url(&cli.database_url) {
            Arc::new(PostgresStore::connect(&cli.database_url).await?)
        } else {
            Arc::new(SqliteStore::connect(&cli.database_url).await?)
        };
        let tokens = mint_refresh_tokens(store, client_id, subject, scope, *count).await?;
        if !portcullis_postgres::is_postgres_url(&cli.database_url) {
            checkpoint(&cli.database_url).await?;
        }
        return write_lines(out, &tokens);
    }
    let store = SqliteStore::connect(&cli.database_url).await?;
    match cli.command {
        Command::Api { listen } => api(store, listen).await,
        Command::Codes { client_id, subject, redirect_uri, scope, verifier, count, out } => {
            let server = server(store, "http://127.0.0.1")?;
            let scopes = ScopeSet::parse(&scope).map_err(|e| e.to_string())?;
            let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            let template = NewAuthorizationCode {
                client_id,
                subject,
                redirect_uri,
                redirect_uri_given: true,
                scopes,
                code_challenge: Some((challenge, CodeChallengeMethod::S256)),
                nonce: None,
                auth_time: None,
            };
            let codes = in_parallel(count, move |_| {
                let server = server.clone();
                let req = template.clone();
                async move {
                    let code = server.issue_authorization_code(req).await.map_err(|e| e.to_string())?;
                    Ok(code.expose().to_owned())
                }
            })
            .await?;
            checkpoint(&cli.database_url).await?;
            write_lines(&out, &codes)
        }
        Command::Refresh { .. } => unreachable!("handled above"),
        Command::Seed { client_id, scope, total, known, out } => {
            seed(&cli.database_url, &client_id, &scope, total, known.min(total), &out).await
        }
    }
}

/// Mint `count` refresh tokens (each with its access token, in a family of its own) through
/// the store API, as a code exchange would have stored them; returns the refresh tokens.
async fn mint_refresh_tokens(
    store: Arc<dyn Store>,
    client_id: &str,
    subject: &str,
    scope: &str,
    count: usize,
) -> Result<Vec<String>> {
    let (client_id, subject) = (client_id.to_owned(), subject.to_owned());
    let scopes = ScopeSet::parse(scope).map_err(|e| e.to_string())?;
    let now = portcullis_core::Clock::now(&portcullis_core::SystemClock);
    in_parallel(count, move |_| {
        let (store, client_id, subject, scopes) =
            (store.clone(), client_id.clone(), subject.clone(), scopes.clone());
        async move {
            let rt = generate(TokenKind::RefreshToken);
            let family = ordered_id();
            let refresh = RefreshTokenRecord {
                hash: hash_token(rt.expose()),
                family: family.clone(),
                client_id: client_id.clone(),
                subject: Some(subject.clone()),
                scopes: scopes.clone(),
                auth_time: None,
                issued_at: now,
                expires_at: now + 86_400,
            };
            let access = AccessTokenRecord {
                hash: hash_token(generate(TokenKind::AccessToken).expose()),
                family,
                client_id,
                subject: Some(subject),
                scopes,
                issued_at: now,
                expires_at: now + 3600,
                revoked: false,
                refresh_hash: Some(refresh.hash.clone()),
            };
            store.save_tokens(&access, Some(&refresh)).await?;
            Ok(rt.expose().to_owned())
        }
    })
    .await
}

/// Fold what this tool wrote back into the database file, so the server under test does not
/// inherit a large WAL to checkpoint (in service, codes and tokens are written by the server).
async fn checkpoint(url: &str) -> Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(url).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await?;
    Ok(())
}

fn server(store: SqliteStore, issuer: &str) -> Result<OAuthServer> {
    let config = Config { issuer: issuer.to_owned(), ..Config::default() };
    Ok(Builder::new(config).store(Arc::new(store)).build()?)
}

/// Run `count` jobs, 32 at a time, and collect their results in order.
async fn in_parallel<F, Fut>(count: usize, job: F) -> Result<Vec<String>>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<String>> + Send + 'static,
{
    const WIDTH: usize = 32;
    let mut out = Vec::with_capacity(count);
    let mut start = 0;
    while start < count {
        let end = (start + WIDTH).min(count);
        let handles: Vec<_> = (start..end).map(|i| tokio::spawn(job(i))).collect();
        for h in handles {
            out.push(h.await??);
        }
        start = end;
    }
    Ok(out)
}

fn write_lines(path: &PathBuf, lines: &[String]) -> Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for l in lines {
        writeln!(f, "{l}")?;
    }
    f.flush()?;
    Ok(())
}

/// Notes per owner, as in `crates/axum/examples/notes.rs`.
#[derive(Clone, Default)]
struct Notes(Arc<Mutex<HashMap<String, Vec<String>>>>);

fn owner(token: &TokenInfo) -> String {
    token.subject.clone().unwrap_or_else(|| format!("client:{}", token.client_id))
}

async fn list_notes(State(notes): State<Notes>, Authenticated(token): Authenticated) -> Json<Value> {
    let all = notes.0.lock().map(|m| m.get(&owner(&token)).cloned().unwrap_or_default()).unwrap_or_default();
    Json(json!({ "owner": owner(&token), "notes": all }))
}

async fn api(store: SqliteStore, listen: SocketAddr) -> Result<()> {
    if !listen.ip().is_loopback() {
        return Err("the benchmark listens on loopback only".into());
    }
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let server = server(store, &format!("http://{addr}"))?;
    let notes = Router::new()
        .route("/notes", get(list_notes))
        .route_layer(BearerLayer::local(server.clone()).scopes("notes:read"))
        .with_state(Notes::default());
    let app = portcullis_axum::router(server).merge(notes);
    println!("api listening on http://{addr}");
    axum::serve(listener, app).await?;
    Ok(())
}

/// Bulk-insert live access tokens in one transaction: `known` real tokens (values written to
/// `out`), then random hashes up to `total`.
async fn seed(
    url: &str,
    client_id: &str,
    scope: &str,
    total: usize,
    known: usize,
    out: &PathBuf,
) -> Result<()> {
    use sqlx::Connection;
    let started = Instant::now();
    let now = portcullis_core::Clock::now(&portcullis_core::SystemClock);
    let expires = now + 86_400;
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}")).await?;
    sqlx::query("PRAGMA synchronous = OFF").execute(&mut conn).await?;
    let mut tx = conn.begin().await?;
    let mut tokens = Vec::with_capacity(known);
    const ROWS: usize = 100;
    let mut i = 0;
    while i < known {
        let n = ROWS.min(known - i);
        let mut sql = String::from(
            "INSERT INTO access_tokens (hash, family, client_id, subject, scopes, issued_at, expires_at) VALUES ",
        );
        for r in 0..n {
            sql.push_str(if r == 0 { "(?, ?, ?, NULL, ?, ?, ?)" } else { ", (?, ?, ?, NULL, ?, ?, ?)" });
        }
        let mut q = sqlx::query(&sql);
        for _ in 0..n {
            let t = generate(TokenKind::AccessToken);
            q = q
                .bind(hash_token(t.expose()))
                .bind(random_id())
                .bind(client_id)
                .bind(scope)
                .bind(now)
                .bind(expires);
            tokens.push(t.expose().to_owned());
        }
        q.execute(&mut *tx).await?;
        i += n;
    }
    let filler = i64::try_from(total - known)?;
    if filler > 0 {
        sqlx::query(
            "INSERT INTO access_tokens (hash, family, client_id, subject, scopes, issued_at, expires_at) \
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?1) \
         SELECT lower(hex(randomblob(32))), lower(hex(randomblob(16))), ?2, NULL, ?3, ?4, ?5 FROM n",
        )
        .bind(filler)
        .bind(client_id)
        .bind(scope)
        .bind(now)
        .bind(expires)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await?;
    write_lines(out, &tokens)?;
    eprintln!("seeded {total} access tokens ({known} known) in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}
