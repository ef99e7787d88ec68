//! `portcullis client …`: register and manage clients (RFC 6749 §2).

use clap::{Args, Subcommand};
use portcullis_core::model::secret::{generate, random_id, TokenKind};
use portcullis_core::store::StoreError;
use portcullis_core::{AccessTokenFormat, AuthMethod, Client, ScopeSet, SecretHash, SecretString};
use serde_json::{json, Value};

use super::scope::{ensure_registered, parse_scopes};
use super::{check_lifetime, fields, format_time, print_json, store_err, table, Ctx};

/// The grant types a client gets when `--grant-type` is not given.
const DEFAULT_GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token"];

/// The grant types this server knows by name (RFC 6749 §4.1, §4.3, §4.4, §6).
const KNOWN_GRANT_TYPES: &[&str] = &["authorization_code", "client_credentials", "password", "refresh_token"];

/// `client` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its client_id and, once, its client_secret.
    Create(CreateArgs),
    /// List every client.
    List,
    /// Show one client.
    Show {
        /// The client_id.
        id: String,
    },
    /// Change a client: each flag given replaces that field.
    Update(UpdateArgs),
    /// Delete a client and every code and token issued to it.
    Delete {
        /// The client_id.
        id: String,
    },
    /// Issue a new client secret (printed once); the old one stops working at once.
    RotateSecret {
        /// The client_id.
        id: String,
    },
}

/// Fields shared by `create` and `update`.
#[derive(Debug, Args)]
pub struct ClientFields {
    /// A redirect URI, compared as an exact string (repeatable). https, http on a loopback
    /// host, or a private-use scheme such as com.example.app:/cb.
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// A grant type the client may use (repeatable): authorization_code, client_credentials,
    /// password, refresh_token, or an absolute URI for an extension grant.
    /// [default on create: authorization_code and refresh_token]
    #[arg(long = "grant-type", value_name = "GRANT_TYPE")]
    grant_types: Vec<String>,
    /// The scopes the client may receive, space-separated ("a b"). Scopes not yet registered
    /// are registered with an empty description.
    #[arg(long, value_name = "SCOPES")]
    scope: Option<String>,
    /// Token endpoint authentication: client_secret_basic, client_secret_post or none
    /// (public). [default on create: client_secret_basic]
    #[arg(long, value_name = "METHOD")]
    auth_method: Option<String>,
    /// Access token lifetime for this client, in seconds (server default otherwise).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    access_token_lifetime: Option<i64>,
    /// Refresh token lifetime for this client, in seconds (server default otherwise).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    refresh_token_lifetime: Option<i64>,
    /// Authorization code lifetime for this client, in seconds (server default otherwise).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    authorization_code_lifetime: Option<i64>,
    /// Access tokens: opaque (checked at the server) or jwt (RFC 9068, verifiable with the
    /// JWKS). [default on create: opaque]
    #[arg(long, value_name = "FORMAT")]
    access_token_format: Option<String>,
}

/// `client create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Display name, shown on the consent page.
    #[arg(long)]
    name: String,
    #[command(flatten)]
    fields: ClientFields,
    /// A public client: no secret, token_endpoint_auth_method none.
    #[arg(long)]
    public: bool,
    /// Trusted clients skip the consent page.
    #[arg(long)]
    trusted: bool,
    /// Import an existing client: use this client_id instead of a generated one.
    #[arg(long, value_name = "CLIENT_ID")]
    id: Option<String>,
    /// Import an existing client: use this secret (stored as an Argon2id hash) instead of a
    /// generated one.
    #[arg(long, value_name = "SECRET")]
    secret: Option<String>,
}

/// `client update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The client_id.
    id: String,
    /// Display name, shown on the consent page.
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    fields: ClientFields,
    /// Skip the consent page for this client.
    #[arg(long)]
    trusted: bool,
    /// Show the consent page for this client.
    #[arg(long)]
    no_trusted: bool,
}

/// Run a `client` subcommand.
pub async fn run(command: ClientCommand, ctx: &Ctx) -> Result<(), String> {
    match command {
        ClientCommand::Create(args) => create(args, ctx).await,
        ClientCommand::List => list(ctx).await,
        ClientCommand::Show { id } => {
            let client = get(ctx, &id).await?;
            output(ctx, &client);
            Ok(())
        }
        ClientCommand::Update(args) => update(args, ctx).await,
        ClientCommand::Delete { id } => delete(ctx, &id).await,
        ClientCommand::RotateSecret { id } => rotate_secret(ctx, &id).await,
    }
}

async fn get(ctx: &Ctx, id: &str) -> Result<Client, String> {
    ctx.store.get_client(id).await.map_err(store_err)?.ok_or_else(|| format!("no client {id:?}"))
}

async fn create(args: CreateArgs, ctx: &Ctx) -> Result<(), String> {
    let now = ctx.now();
    let name = check_name(&args.name)?;
    let auth_method = match (args.public, args.fields.auth_method.as_deref()) {
        (false, None) => AuthMethod::ClientSecretBasic,
        (true, None) => AuthMethod::None,
        (public, Some(m)) => {
            let m = parse_auth_method(m)?;
            if public && m != AuthMethod::None {
                return Err(format!("--public means --auth-method none, not {}", m.as_str()));
            }
            m
        }
    };
    let public = auth_method == AuthMethod::None;
    if public && args.secret.is_some() {
        return Err("a public client has no secret: --secret cannot be used with --public".into());
    }
    let grant_types = if args.fields.grant_types.is_empty() {
        DEFAULT_GRANT_TYPES.iter().map(|g| (*g).to_owned()).collect()
    } else {
        check_grant_types(&args.fields.grant_types)?
    };
    check_public_grants(public, &grant_types)?;
    let redirect_uris = check_redirect_uris(&args.fields.redirect_uris)?;
    let scopes = match &args.fields.scope {
        Some(s) => parse_scopes(s)?,
        None => ScopeSet::empty(),
    };
    let id = match &args.id {
        Some(id) => check_client_id(id)?,
        None => random_id(),
    };
    let access_token_lifetime = check_lifetime("access-token-lifetime", args.fields.access_token_lifetime)?;
    let refresh_token_lifetime =
        check_lifetime("refresh-token-lifetime", args.fields.refresh_token_lifetime)?;
    let authorization_code_lifetime =
        check_lifetime("authorization-code-lifetime", args.fields.authorization_code_lifetime)?;
    let access_token_format = match &args.fields.access_token_format {
        Some(f) => parse_format(f)?,
        None => AccessTokenFormat::Opaque,
    };
    if ctx.store.get_client(&id).await.map_err(store_err)?.is_some() {
        return Err(format!("client {id:?} already exists"));
    }
    // The secret: none for a public client; an imported one hashed with Argon2id (it may be
    // weak); otherwise a generated 256-bit one whose SHA-256 is enough (DESIGN.md "Secrets").
    let (secret_hash, shown) = match (public, &args.secret) {
        (true, _) => (None, None),
        (false, Some(s)) => {
            check_secret(s)?;
            (Some(SecretHash::for_imported(&SecretString::new(s.as_str()))?), None)
        }
        (false, None) => {
            let s = generate(TokenKind::ClientSecret);
            (Some(SecretHash::for_generated(&s)), Some(s))
        }
    };
    let client = Client {
        id,
        name,
        secret: secret_hash,
        redirect_uris,
        grant_types,
        scopes,
        auth_method,
        trusted: args.trusted,
        access_token_lifetime,
        refresh_token_lifetime,
        authorization_code_lifetime,
        access_token_format,
        created_at: now,
        updated_at: now,
    };
    ensure_registered(ctx, &client.scopes).await?;
    ctx.store.create_client(&client).await.map_err(|e| match e {
        StoreError::Conflict(_) => format!("client {:?} already exists", client.id),
        other => store_err(other),
    })?;
    if client.allows_grant("authorization_code") && client.redirect_uris.is_empty() {
        eprintln!(
            "note: no --redirect-uri: the authorization_code grant needs one (add it with `client update`)"
        );
    }
    if ctx.json {
        let mut v = client_json(&client);
        v["client_secret"] = shown.as_ref().map_or(Value::Null, |s| Value::from(s.expose()));
        if client.secret.is_some() {
            // RFC 7591 §3.2.1: 0 means the secret does not expire.
            v["client_secret_expires_at"] = Value::from(0);
        }
        print_json(&v);
    } else {
        let secret_line = match (&shown, public) {
            (Some(s), _) => s.expose().to_owned(),
            (None, true) => "(none: public client)".to_owned(),
            (None, false) => "(imported; not shown)".to_owned(),
        };
        print!("{}", fields(&[("client_id", client.id.clone()), ("client_secret", secret_line)]));
        if shown.is_some() {
            println!("The client secret is shown only now: store it safely.");
        }
    }
    Ok(())
}

async fn update(args: UpdateArgs, ctx: &Ctx) -> Result<(), String> {
    let now = ctx.now();
    let mut client = get(ctx, &args.id).await?;
    let f = &args.fields;
    let nothing = args.name.is_none()
        && f.redirect_uris.is_empty()
        && f.grant_types.is_empty()
        && f.scope.is_none()
        && f.auth_method.is_none()
        && f.access_token_lifetime.is_none()
        && f.refresh_token_lifetime.is_none()
        && f.authorization_code_lifetime.is_none()
        && f.access_token_format.is_none()
        && !args.trusted
        && !args.no_trusted;
    if nothing {
        return Err("nothing to update: give at least one flag (see --help)".into());
    }
    if args.trusted && args.no_trusted {
        return Err("--trusted and --no-trusted cannot be used together".into());
    }
    if let Some(name) = &args.name {
        client.name = check_name(name)?;
    }
    if let Some(m) = &f.auth_method {
        let m = parse_auth_method(m)?;
        if (m == AuthMethod::None) != client.is_public() {
            return Err(
                "cannot switch a client between public and confidential: delete it and create it again"
                    .into(),
            );
        }
        client.auth_method = m;
    }
    if !f.redirect_uris.is_empty() {
        client.redirect_uris = check_redirect_uris(&f.redirect_uris)?;
    }
    if !f.grant_types.is_empty() {
        client.grant_types = check_grant_types(&f.grant_types)?;
    }
    check_public_grants(client.is_public(), &client.grant_types)?;
    if let Some(s) = &f.scope {
        client.scopes = parse_scopes(s)?;
    }
    if args.trusted {
        client.trusted = true;
    }
    if args.no_trusted {
        client.trusted = false;
    }
    if let Some(v) = check_lifetime("access-token-lifetime", f.access_token_lifetime)? {
        client.access_token_lifetime = Some(v);
    }
    if let Some(v) = check_lifetime("refresh-token-lifetime", f.refresh_token_lifetime)? {
        client.refresh_token_lifetime = Some(v);
    }
    if let Some(v) = check_lifetime("authorization-code-lifetime", f.authorization_code_lifetime)? {
        client.authorization_code_lifetime = Some(v);
    }
    if let Some(f) = &f.access_token_format {
        client.access_token_format = parse_format(f)?;
    }
    client.updated_at = now;
    ensure_registered(ctx, &client.scopes).await?;
    ctx.store.update_client(&client).await.map_err(|e| match e {
        StoreError::NotFound => format!("no client {:?}", client.id),
        other => store_err(other),
    })?;
    output(ctx, &client);
    Ok(())
}

async fn list(ctx: &Ctx) -> Result<(), String> {
    let clients = ctx.store.list_clients().await.map_err(store_err)?;
    if ctx.json {
        print_json(&Value::Array(clients.iter().map(client_json).collect()));
    } else if clients.is_empty() {
        println!("no clients");
    } else {
        let rows: Vec<Vec<String>> = clients
            .iter()
            .map(|c| {
                vec![
                    c.id.clone(),
                    c.name.clone(),
                    c.auth_method.as_str().to_owned(),
                    yes_no(c.trusted).to_owned(),
                    c.grant_types.join(","),
                    c.scopes.to_string(),
                ]
            })
            .collect();
        print!("{}", table(&["CLIENT_ID", "NAME", "AUTH_METHOD", "TRUSTED", "GRANT_TYPES", "SCOPE"], &rows));
    }
    Ok(())
}

async fn delete(ctx: &Ctx, id: &str) -> Result<(), String> {
    if !ctx.store.delete_client(id).await.map_err(store_err)? {
        return Err(format!("no client {id:?}"));
    }
    if ctx.json {
        print_json(&json!({ "client_id": id, "deleted": true }));
    } else {
        println!("deleted client {id} and every code and token issued to it");
    }
    Ok(())
}

async fn rotate_secret(ctx: &Ctx, id: &str) -> Result<(), String> {
    let now = ctx.now();
    let mut client = get(ctx, id).await?;
    if client.is_public() {
        return Err(format!("client {id:?} is public: it has no secret"));
    }
    let secret = generate(TokenKind::ClientSecret);
    client.secret = Some(SecretHash::for_generated(&secret));
    client.updated_at = now;
    ctx.store.update_client(&client).await.map_err(|e| match e {
        StoreError::NotFound => format!("no client {id:?}"),
        other => store_err(other),
    })?;
    if ctx.json {
        print_json(&json!({
            "client_id": client.id,
            "client_secret": secret.expose(),
            "client_secret_expires_at": 0,
        }));
    } else {
        print!(
            "{}",
            fields(&[("client_id", client.id.clone()), ("client_secret", secret.expose().to_owned())])
        );
        println!("The client secret is shown only now: store it safely. The old secret no longer works.");
    }
    Ok(())
}

/// Print a client (never its secret, which only `create` and `rotate-secret` show).
fn output(ctx: &Ctx, client: &Client) {
    if ctx.json {
        print_json(&client_json(client));
        return;
    }
    let lifetime = |v: Option<i64>| v.map_or_else(|| "server default".to_owned(), |s| format!("{s} s"));
    let list = |v: &[String]| if v.is_empty() { "-".to_owned() } else { v.join(" ") };
    let scope = if client.scopes.is_empty() { "-".to_owned() } else { client.scopes.to_string() };
    print!(
        "{}",
        fields(&[
            ("client_id", client.id.clone()),
            ("name", client.name.clone()),
            ("auth_method", client.auth_method.as_str().to_owned()),
            ("trusted", yes_no(client.trusted).to_owned()),
            ("grant_types", list(&client.grant_types)),
            ("redirect_uris", list(&client.redirect_uris)),
            ("scope", scope),
            ("access_token_lifetime", lifetime(client.access_token_lifetime)),
            ("refresh_token_lifetime", lifetime(client.refresh_token_lifetime)),
            ("authorization_code_lifetime", lifetime(client.authorization_code_lifetime)),
            ("access_token_format", client.access_token_format.as_str().to_owned()),
            ("created", format_time(client.created_at)),
            ("updated", format_time(client.updated_at)),
        ])
    );
}

/// A client as JSON, with RFC 7591 §2 field names. Never the secret or its hash.
fn client_json(c: &Client) -> Value {
    json!({
        "client_id": c.id,
        "name": c.name,
        "redirect_uris": c.redirect_uris,
        "grant_types": c.grant_types,
        "scope": c.scopes.to_string(),
        "token_endpoint_auth_method": c.auth_method.as_str(),
        "trusted": c.trusted,
        "access_token_lifetime": c.access_token_lifetime,
        "refresh_token_lifetime": c.refresh_token_lifetime,
        "authorization_code_lifetime": c.authorization_code_lifetime,
        "access_token_format": c.access_token_format.as_str(),
        "client_id_issued_at": c.created_at,
        "updated_at": c.updated_at,
    })
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn check_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("--name must not be empty".into());
    }
    if name.chars().any(char::is_control) {
        return Err("--name must not contain control characters".into());
    }
    Ok(name.to_owned())
}

fn parse_format(s: &str) -> Result<AccessTokenFormat, String> {
    AccessTokenFormat::parse(s)
        .ok_or_else(|| format!("unknown --access-token-format {s:?}: use opaque or jwt"))
}

fn parse_auth_method(s: &str) -> Result<AuthMethod, String> {
    AuthMethod::parse(s).ok_or_else(|| {
        format!("unknown --auth-method {s:?}: use client_secret_basic, client_secret_post or none")
    })
}

/// RFC 6749 Appendix A.1: client_id = *VSCHAR. Spaces are refused too, so ids can be typed
/// and passed as single shell words.
fn check_client_id(id: &str) -> Result<String, String> {
    if id.is_empty() || id.len() > 255 || !id.bytes().all(|b| (0x21..=0x7E).contains(&b)) {
        return Err(format!("invalid --id {id:?}: use 1 to 255 printable ASCII characters without spaces"));
    }
    Ok(id.to_owned())
}

/// RFC 6749 Appendix A.2: client_secret = *VSCHAR (printable ASCII, space included).
fn check_secret(secret: &str) -> Result<(), String> {
    if secret.is_empty() || !secret.bytes().all(|b| (0x20..=0x7E).contains(&b)) {
        return Err("invalid --secret: use printable ASCII characters (RFC 6749 Appendix A.2)".into());
    }
    Ok(())
}

/// Validate and deduplicate grant types, keeping their order.
fn check_grant_types(given: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for g in given {
        // RFC 6749 §4.5: an extension grant type is an absolute URI.
        if !KNOWN_GRANT_TYPES.contains(&g.as_str()) && !is_absolute_uri(g) {
            return Err(format!(
                "unknown grant type {g:?}: use authorization_code, client_credentials, password, \
                 refresh_token, or an absolute URI for an extension grant"
            ));
        }
        if !out.contains(g) {
            out.push(g.clone());
        }
    }
    Ok(out)
}

/// RFC 6749 §4.4: the client credentials grant is for confidential clients only.
fn check_public_grants(public: bool, grant_types: &[String]) -> Result<(), String> {
    if public && grant_types.iter().any(|g| g == "client_credentials") {
        return Err("a public client cannot use the client_credentials grant (RFC 6749 §4.4)".into());
    }
    Ok(())
}

fn check_redirect_uris(given: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for uri in given {
        check_redirect_uri(uri).map_err(|why| format!("invalid --redirect-uri {uri:?}: {why}"))?;
        if !out.contains(uri) {
            out.push(uri.clone());
        }
    }
    Ok(out)
}

/// RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
fn split_scheme(uri: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = uri.split_once(':')?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_ok && rest_ok).then_some((scheme, rest))
}

/// Every character is one RFC 3986 allows (unreserved, reserved, or a `%XX` escape).
fn uri_characters_ok(uri: &str) -> Result<(), String> {
    let bytes = uri.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let ok = b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&b);
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return Err("'%' must start a %XX escape".into());
            }
        } else if !ok {
            let c = uri[i..].chars().next().unwrap_or('?');
            return Err(format!("character {c:?} is not allowed in a URI (RFC 3986)"));
        }
        i += 1;
    }
    Ok(())
}

/// An absolute URI (RFC 3986 §4.3), e.g. an extension grant type.
fn is_absolute_uri(s: &str) -> bool {
    uri_characters_ok(s).is_ok()
        && !s.contains('#')
        && split_scheme(s).is_some_and(|(_, rest)| !rest.is_empty())
}

/// Redirect URI registration rules:
/// - RFC 6749 §3.1.2: an absolute URI without a fragment.
/// - RFC 9700 §2.1 / §4.1.3 and OAuth 2.1 §2.3.1: compared as exact strings, so no wildcards.
/// - RFC 9700 §2.6 and OAuth 2.1 §1.5: no plain http except on the loopback interface
///   (RFC 8252 §7.3); `javascript:`, `data:` and `vbscript:` would run code in the browser.
/// - RFC 8252 §7.1: a private-use scheme is a reverse domain name (`com.example.app:/cb`).
fn check_redirect_uri(uri: &str) -> Result<(), String> {
    if uri.is_empty() {
        return Err("it is empty".into());
    }
    if uri.contains('#') {
        return Err("a redirect URI must not contain a fragment (RFC 6749 §3.1.2)".into());
    }
    if uri.contains('*') {
        return Err(
            "wildcards are not allowed: redirect URIs are compared as exact strings (RFC 9700 §4.1.3)".into(),
        );
    }
    uri_characters_ok(uri)?;
    let Some((scheme, rest)) = split_scheme(uri) else {
        return Err("a redirect URI must be an absolute URI with a scheme (RFC 6749 §3.1.2)".into());
    };
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "javascript" | "data" | "vbscript" => {
            Err(format!("the {scheme}: scheme is not allowed (RFC 9700 §2.6)"))
        }
        "http" | "https" => {
            let Some(after) = rest.strip_prefix("//") else {
                return Err(format!("an {scheme} redirect URI needs a host ({scheme}://host/…)"));
            };
            let authority = after.split(['/', '?']).next().unwrap_or("");
            if authority.contains('@') {
                return Err("a redirect URI must not contain user information (user@host)".into());
            }
            let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
                match v6.split_once(']') {
                    Some((addr, port)) => (format!("[{}]", addr.to_ascii_lowercase()), port),
                    None => return Err("unterminated IPv6 address".into()),
                }
            } else {
                match authority.find(':') {
                    Some(i) => (authority[..i].to_ascii_lowercase(), &authority[i..]),
                    None => (authority.to_ascii_lowercase(), ""),
                }
            };
            if host.is_empty() || host == "[]" {
                return Err(format!("an {scheme} redirect URI needs a host"));
            }
            if !port.is_empty() {
                let digits = port.strip_prefix(':').unwrap_or("x");
                if digits.is_empty()
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                    || digits.parse::<u16>().is_err()
                {
                    return Err(format!("invalid port in {authority:?}"));
                }
            }
            if scheme == "http" && !matches!(host.as_str(), "127.0.0.1" | "[::1]" | "localhost") {
                return Err(
                    "http is allowed only on a loopback host (127.0.0.1, [::1], localhost); use https (RFC 9700 §2.6)"
                        .into(),
                );
            }
            Ok(())
        }
        _ => {
            if !scheme.contains('.') {
                return Err(format!(
                    "a private-use scheme must be a reverse domain name such as com.example.app, not {scheme:?} \
                     (RFC 8252 §7.1)"
                ));
            }
            if rest.is_empty() {
                return Err("nothing after the scheme".into());
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        for ok in [
            "https://app.example.com/cb",
            "https://app.example.com:8443/cb?x=1",
            "http://127.0.0.1:8080/cb",
            "http://[::1]/cb",
            "http://localhost:3000/cb",
            "HTTP://LOCALHOST/cb",
            "com.example.app:/cb",
            "com.example.app://cb",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "/cb",
            "app.example.com/cb",
            "https://app.example.com/cb#frag",
            "https://*.example.com/cb",
            "https://app.example.com/*",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,hi",
            "vbscript:msgbox",
            "http://app.example.com/cb",
            "http://127.0.0.1.evil.example/cb",
            "http://localhost.evil.example/cb",
            "http://127.0.0.1@evil.example/cb",
            "https://user:pw@app.example.com/cb",
            "https:///cb",
            "https:/cb",
            "https://app.example.com:99999/cb",
            "https://app.example.com:x/cb",
            "https://app.example.com/a b",
            "https://app.example.com/%zz",
            "myapp:/cb",
            "com.example.app:",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn grant_types_are_known_names_or_absolute_uris() {
        assert!(check_grant_types(&["client_credentials".into()]).is_ok());
        assert!(check_grant_types(&["urn:ietf:params:oauth:grant-type:jwt-bearer".into()]).is_ok());
        assert!(check_grant_types(&["implicit".into()]).is_err());
        assert!(check_grant_types(&["urn:".into()]).is_err());
        assert_eq!(
            check_grant_types(&["password".into(), "password".into()]).ok(),
            Some(vec!["password".to_owned()])
        );
    }
}
