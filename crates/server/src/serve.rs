//! `portcullis serve`: machine endpoints, health checks, request log, purge task, clean
//! shutdown.

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use portcullis_core::wire::ClientIdentity;
use portcullis_core::wire::PUBLIC_MAX_AGE;
use portcullis_core::OAuthServer;
use tokio::net::TcpListener;

use crate::pages::{PageSettings, PagesState};
use crate::settings::Settings;

/// Rows per table per purge run: bounded so a purge never holds the write lock for long.
const PURGE_BATCH: u32 = 1000;

/// The whole HTTP application for a server.
pub fn app(server: OAuthServer, pages: PagesState) -> Router {
    let health = Router::new()
        .route("/health/alive", get(alive))
        .route("/health/ready", get(ready))
        .with_state(server.clone());
    portcullis_axum::router(server)
        .merge(health)
        .merge(crate::pages::router(pages))
        .layer(middleware::from_fn(log_request))
}

async fn alive() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Ready only while the store answers.
async fn ready(State(server): State<OAuthServer>) -> Response {
    match server.store().ping().await {
        Ok(()) => Json(serde_json::json!({ "status": "ok" })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "unavailable" })))
                .into_response()
        }
    }
}

/// One line per request: method, path (never the query: it can carry codes), status,
/// latency, client_id.
async fn log_request(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let res = next.run(req).await;
    let client_id = res.extensions().get::<ClientIdentity>().map(|c| c.0.as_str()).unwrap_or("-");
    // Milliseconds with three decimals, from integer microseconds (float formatting was a
    // visible part of the cost of the line).
    let micros = start.elapsed().as_micros();
    if tracing::enabled!(tracing::Level::INFO)
        && !crate::logwriter::request_line(method.as_str(), &path, res.status().as_u16(), micros, client_id)
    {
        tracing::info!(
            %method,
            path = %path,
            status = res.status().as_u16(),
            latency_ms = format_args!("{}.{:03}", micros / 1000, micros % 1000),
            client_id = %client_id,
            "request"
        );
    }
    res
}

/// Run the server until SIGTERM or SIGINT; in-flight requests finish.
pub async fn run(mut settings: Settings) -> Result<(), String> {
    let store =
        crate::store::open(&settings.database_url, settings.auto_migrate, crate::store::Use::Serve).await?;
    let listener = TcpListener::bind(&settings.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    if settings.issuer.is_empty() {
        // No issuer configured: name the address actually bound (port 0 picks one).
        settings.issuer = format!("http://{addr}");
    }
    let server = settings.build_server(store)?;
    // Keys are generated on first start (and rotated when signing_alg changed), before the
    // first request needs one: RSA generation takes a moment.
    server
        .ensure_signing_key()
        .await
        .map_err(|e| format!("signing keys: {e} ({})", e.cause.as_deref().unwrap_or("")))?;
    let pages = PagesState::new(
        server.clone(),
        PageSettings {
            product_name: settings.product_name.clone(),
            logo_url: settings.logo_url.clone(),
            session_lifetime: settings.session_lifetime,
            login_max_failures: settings.login_max_failures,
            login_lockout: settings.login_lockout,
        },
    )?;
    tracing::info!(%addr, issuer = %settings.issuer, database = %crate::store::redact_url(&settings.database_url), "portcullis listening");
    // Tests and scripts read this line to learn the port when listening on port 0.
    println!("portcullis listening on http://{addr}");
    tokio::spawn(purge_loop(server.clone(), Duration::from_secs(settings.purge_interval.max(1))));
    if settings.key_rotation_interval > 0 {
        tokio::spawn(rotation_loop(server.clone(), settings.key_rotation_interval));
    }
    let service = app(server, pages).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("portcullis stopped");
    Ok(())
}

async fn purge_loop(server: OAuthServer, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match server.store().purge_expired(server.now(), PURGE_BATCH).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "purged expired codes and tokens"),
            Err(e) => tracing::warn!(error = %e, "purge failed"),
        }
    }
}

/// Scheduled key rotation: when the signing key is `interval` seconds old and no successor is
/// waiting, publish a new key that starts signing [`PUBLIC_MAX_AGE`] seconds later (at most
/// `interval`), so clients that cached the JWKS learn it before they meet it (checklist 19.5.1).
async fn rotation_loop(server: OAuthServer, interval: u64) {
    let interval = i64::try_from(interval).unwrap_or(i64::MAX);
    let every = Duration::from_secs(u64::try_from((interval / 10).clamp(1, 60)).unwrap_or(60));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let now = server.now();
        let keys = match server.signing_keys().await {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(error = %e, "key rotation check failed");
                continue;
            }
        };
        let waiting = keys.iter().any(|k| k.not_before > now && k.verifies_at(now));
        let due = keys.iter().rev().find(|k| k.signs_at(now)).is_none_or(|k| k.not_before + interval <= now);
        if waiting || !due {
            continue;
        }
        let delay = i64::from(PUBLIC_MAX_AGE).min(interval);
        if let Err(e) = server.rotate_signing_key(delay).await {
            tracing::warn!(error = %e, cause = e.cause.as_deref().unwrap_or(""), "scheduled key rotation failed");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn ready_only_while_the_store_answers() {
        let f = portcullis_testkit::Fixture::new();
        let settings = PageSettings {
            product_name: "P".into(),
            logo_url: String::new(),
            session_lifetime: 60,
            login_max_failures: 5,
            login_lockout: 60,
        };
        let app = app(f.server.clone(), PagesState::new(f.server.clone(), settings).unwrap());
        let get = |path: &str| axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
        let status =
            |app: Router, path: &'static str| async move { app.oneshot(get(path)).await.unwrap().status() };
        assert_eq!(status(app.clone(), "/health/ready").await, StatusCode::OK);
        f.store.set_unavailable(true);
        assert_eq!(status(app.clone(), "/health/ready").await, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            status(app.clone(), "/health/alive").await,
            StatusCode::OK,
            "alive does not depend on the store"
        );
        f.store.set_unavailable(false);
        assert_eq!(status(app, "/health/ready").await, StatusCode::OK);
    }
}
