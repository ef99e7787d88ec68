//! The ceiling: a minimal axum server answering a fixed small JSON body, so every benchmark
//! figure can be read as a fraction of what the HTTP stack alone does on this machine.
//!
//! `ceiling [ADDR]` (default `127.0.0.1:0`); prints `ceiling listening on http://ADDR`.

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;

/// The same allocator as the `portcullis` binary, so the comparison is like for like.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BODY: &str = r#"{"status":"ok"}"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let app = Router::new().route("/", get(|| async { ([(CONTENT_TYPE, "application/json")], BODY) }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("ceiling listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
