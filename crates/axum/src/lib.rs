//! # portcullis-axum
//!
//! The machine endpoints of a Portcullis [`OAuthServer`] as an axum [`Router`], and
//! [`BearerLayer`], which protects an API with the tokens the server issues. Handlers are
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

mod bearer;
mod form;
#[cfg(feature = "introspection")]
mod introspection;
#[cfg(feature = "jwks")]
mod jwks;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use portcullis_core::wire::ReplyBody;
use portcullis_core::{Introspection, OAuthServer, Reply, Revoked, TokenRequest, TokenResponse};

pub use bearer::{Authenticated, Bearer, BearerLayer, Verifier};
pub use form::{read_form, FormRequest, FramingError, MAX_FORM_BYTES};
#[cfg(feature = "introspection")]
pub use introspection::IntrospectionClient;
#[cfg(feature = "jwks")]
pub use jwks::JwksVerifier;

/// The machine endpoints: `/token`, `/introspect`, `/revoke`, `/userinfo`, `/jwks.json` and
/// the metadata documents under `/.well-known/`.
pub fn router(server: OAuthServer) -> Router {
    Router::new()
        .route("/token", any(token))
        .route("/introspect", any(introspect))
        .route("/revoke", any(revoke))
        .route("/userinfo", get(userinfo).post(userinfo))
        .route(portcullis_core::endpoint::metadata::JWKS_PATH, get(jwks))
        .route("/.well-known/openid-configuration", get(metadata))
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .with_state(server)
}

/// `GET /jwks.json` (RFC 7517 §5): the public signing keys.
async fn jwks(State(server): State<OAuthServer>) -> Response {
    portcullis_core::wire::public_document(server.jwks().await).into_response()
}

/// `GET /.well-known/openid-configuration` (OIDC Discovery 1.0 §4) and
/// `GET /.well-known/oauth-authorization-server` (RFC 8414 §3): one document.
async fn metadata(State(server): State<OAuthServer>) -> Response {
    portcullis_core::wire::public_document(server.metadata().await).into_response()
}

/// `GET`/`POST /userinfo` (OIDC Core §5.3): the bearer token in the header, or (POST) in the
/// form body (RFC 6750 §2.2); never in the query (OAuth 2.1 §5.1 drops it).
async fn userinfo(State(server): State<OAuthServer>, req: Request) -> Response {
    let realm = server.config().issuer.clone();
    let openid = portcullis_core::ScopeSet::from_stored("openid");
    let result = match bearer::extract(req, false, true).await {
        Ok((_, Some(token))) => server.userinfo(&token).await,
        Ok((_, None)) => {
            return portcullis_core::wire::bearer_error(&realm, None, &openid, None).into_response();
        }
        Err(e) => Err(e),
    };
    portcullis_core::wire::userinfo_response(&realm, result).into_response()
}

/// Frame a form request for an endpoint (method, content type, size, one Authorization).
async fn framed(req: Request) -> Result<TokenRequest, FramingError> {
    let form = read_form(req).await?;
    Ok(TokenRequest::parse(&form.body, form.authorization.as_deref())?)
}

/// Answer a framing failure; when the body was left unread the connection cannot be reused.
fn framing_error<T: ReplyBody>(e: FramingError) -> Response {
    let mut res = Reply::<T>::error(e.error).into_response().into_response();
    if e.close {
        res.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    }
    res
}

/// `POST /token` (RFC 6749 §3.2). Any framing problem is a §5.2 `invalid_request`, never a
/// 405, 415 or 422.
async fn token(State(server): State<OAuthServer>, req: Request) -> Response {
    match framed(req).await {
        Ok(request) => server.token(request).await.into_response().into_response(),
        Err(e) => framing_error::<TokenResponse>(e),
    }
}

/// `POST /introspect` (RFC 7662 §2.1).
async fn introspect(State(server): State<OAuthServer>, req: Request) -> Response {
    match framed(req).await {
        Ok(request) => server.introspect(request).await.into_response().into_response(),
        Err(e) => framing_error::<Introspection>(e),
    }
}

/// `POST /revoke` (RFC 7009 §2.1).
async fn revoke(State(server): State<OAuthServer>, req: Request) -> Response {
    match framed(req).await {
        Ok(request) => server.revoke(request).await.into_response().into_response(),
        Err(e) => framing_error::<Revoked>(e),
    }
}
