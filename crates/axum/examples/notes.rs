//! A small notes API protected by Portcullis access tokens.
//!
//! The API runs in its own process and checks every token at the Portcullis server's
//! introspection endpoint (RFC 7662), as a confidential client of its own:
//!
//! ```sh
//! portcullis scope create notes:read --description "Read your notes"
//! portcullis scope create notes:write --description "Write notes"
//! portcullis client create --name notes-api --grant-type client_credentials --json   # the API's own credentials
//! PORTCULLIS_URL=http://127.0.0.1:8080 NOTES_CLIENT_ID=… NOTES_CLIENT_SECRET=… \
//!     cargo run -p portcullis-axum --example notes          # listens on 127.0.0.1:3000
//!
//! curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:3000/notes
//! curl -H "Authorization: Bearer $ACCESS_TOKEN" -H 'content-type: application/json' \
//!      -d '{"text":"buy milk"}' http://127.0.0.1:3000/notes
//! ```
//!
//! Routes and the scopes they need: `GET /notes` (`notes:read`), `POST /notes`
//! (`notes:write`), `GET /me` (any valid token).
//!
//! With `NOTES_AUDIENCE` set, the API verifies JWT access tokens (RFC 9068) itself with the
//! server's published keys (`/jwks.json`) instead: no call to Portcullis per request and no
//! credentials of its own. Clients then ask for tokens for this API with RFC 8707 `resource`:
//!
//! ```sh
//! PORTCULLIS_URL=http://127.0.0.1:8080 NOTES_AUDIENCE=http://127.0.0.1:3000 \
//!     cargo run -p portcullis-axum --example notes
//! curl -u "$ID:$SECRET" -d grant_type=client_credentials -d scope=notes:read \
//!      -d resource=http://127.0.0.1:3000 http://127.0.0.1:8080/token    # → a JWT for this API
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use portcullis_axum::{Authenticated, BearerLayer};
use serde_json::{json, Value};

/// Notes per owner (the token's subject, or its client for machine tokens).
#[derive(Clone, Default)]
pub struct Notes(Arc<Mutex<HashMap<String, Vec<String>>>>);

fn owner(token: &portcullis_core::TokenInfo) -> String {
    token.subject.clone().unwrap_or_else(|| format!("client:{}", token.client_id))
}

async fn list_notes(State(notes): State<Notes>, Authenticated(token): Authenticated) -> Json<Value> {
    let all = notes.0.lock().map(|m| m.get(&owner(&token)).cloned().unwrap_or_default()).unwrap_or_default();
    Json(json!({ "owner": owner(&token), "notes": all }))
}

async fn add_note(
    State(notes): State<Notes>,
    Authenticated(token): Authenticated,
    Json(body): Json<Value>,
) -> Result<(StatusCode, Json<Value>), StatusCode> {
    let text = body.get("text").and_then(Value::as_str).ok_or(StatusCode::BAD_REQUEST)?.to_owned();
    let mut map = notes.0.lock().map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    map.entry(owner(&token)).or_default().push(text.clone());
    Ok((StatusCode::CREATED, Json(json!({ "owner": owner(&token), "text": text }))))
}

async fn me(Authenticated(token): Authenticated) -> Json<Value> {
    Json(json!({
        "sub": token.subject,
        "client_id": token.client_id,
        "scope": token.scopes.to_string(),
        "exp": token.expires_at,
    }))
}

/// The API, with `layer` deciding how tokens are verified (remote introspection here; an
/// application that embeds Portcullis uses `BearerLayer::local(server)`).
pub fn app(layer: BearerLayer) -> Router {
    let notes_routes = get(list_notes)
        .layer(layer.clone().scopes("notes:read"))
        .merge(axum::routing::post(add_note).layer(layer.clone().scopes("notes:write")));
    Router::new()
        .route("/notes", notes_routes)
        .route("/me", get(me).layer(layer))
        .with_state(Notes::default())
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |k: &str| std::env::var(k).map_err(|_| format!("set {k}"));
    let base = env("PORTCULLIS_URL")?;
    let base = base.trim_end_matches('/');
    let layer = match std::env::var("NOTES_AUDIENCE") {
        // The issuer is the server's URL (its `issuer` setting); the audience is this API.
        Ok(audience) => {
            BearerLayer::jwks(portcullis_axum::JwksVerifier::new(format!("{base}/jwks.json"), base, audience))
        }
        Err(_) => BearerLayer::remote(portcullis_axum::IntrospectionClient::new(
            format!("{base}/introspect"),
            env("NOTES_CLIENT_ID")?,
            env("NOTES_CLIENT_SECRET")?,
        )),
    };
    let listen = std::env::var("NOTES_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("notes API listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app(layer.realm("notes"))).await?;
    Ok(())
}
