//! # portcullis-axum
//!
//! The machine endpoints of a Portcullis [`OAuthServer`] as an axum [`Router`]. Handlers are
//! thin: they frame the HTTP request (method, content type, body size, headers), make one core
//! call, and return the core's `http::Response`.
//!
//! ```no_run
//! # async fn run(server: portcullis_core::OAuthServer) -> std::io::Result<()> {
//! let app = portcullis_axum::router(server);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

mod form;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use portcullis_core::{OAuthServer, TokenReply, TokenRequest};

pub use form::{read_form, MAX_FORM_BYTES};

/// The machine endpoints: `/token`.
pub fn router(server: OAuthServer) -> Router {
    Router::new().route("/token", any(token)).with_state(server)
}

/// `POST /token` (RFC 6749 §3.2). Any framing problem is a §5.2 `invalid_request`, never a
/// 405, 415 or 422.
async fn token(State(server): State<OAuthServer>, req: Request) -> Response {
    let reply = match read_form(req).await.and_then(|f| TokenRequest::parse(&f.body, f.authorization.as_deref())) {
        Ok(request) => server.token(request).await,
        Err(e) => TokenReply::error(e),
    };
    reply.into_response().into_response()
}
