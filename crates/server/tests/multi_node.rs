//! Several nodes on one PostgreSQL database (issue #6): two `portcullis serve` processes on
//! different ports share one database, and what one node or the CLI does is seen by the other
//! at once (the nodes keep no caches of clients or tokens; which key signs is the one
//! exception, within 1 s). Runs only with
//! `PORTCULLIS_TEST_BACKEND=postgres`; on SQLite every test here is skipped with a note.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[path = "support/flow.rs"]
mod flow;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{backend, basic_header, http, token, Database, Server, BIN};
use serde_json::Value;

/// One issuer for every node, as behind a load balancer.
const ISSUER: &str = "http://auth.portcullis.test";

fn skip(test: &str) -> bool {
    if backend::is_postgres() {
        return false;
    }
    eprintln!("note: {test} skipped: several nodes need PostgreSQL (PORTCULLIS_TEST_BACKEND=postgres)");
    true
}

/// Start `n` nodes on `db` at the same instant (each applies migrations at start).
fn start_nodes(db: &Arc<Database>, n: usize) -> Vec<Server> {
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let db = Arc::clone(db);
            std::thread::spawn(move || Server::start_on(db, &["--issuer", ISSUER], &[]))
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

async fn introspect(node: &Server, auth: (&str, &str), t: &str) -> Value {
    post_form(node, "/introspect", auth, &format!("token={t}")).await.1
}

async fn post_form(node: &Server, path: &str, auth: (&str, &str), body: &str) -> (u16, Value) {
    let res = http()
        .post(node.url(path))
        .header("authorization", basic_header(auth.0, auth.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_clients_tokens_and_revocations() {
    if skip("two_nodes_share_clients_tokens_and_revocations") {
        return;
    }
    let db = Arc::new(Database::new());
    let nodes = start_nodes(&db, 2);
    let (a, b) = (&nodes[0], &nodes[1]);
    assert_ne!(a.base, b.base);

    // A client created through the CLI against the database is usable at both nodes at once.
    a.cli(&["scope", "create", "invoices:read", "--json"]).json();
    let (id, secret) =
        a.client(&["--name", "billing", "--grant-type", "client_credentials", "--scope", "invoices:read"]);
    let (api_id, api_secret) = a.client(&["--name", "api", "--grant-type", "client_credentials"]);
    let form = [("grant_type", "client_credentials"), ("scope", "invoices:read")];
    let (st, _, from_a) = token(a, &form, Some((&id, &secret))).await;
    assert_eq!(st, 200, "{from_a}");
    let (st, _, from_b) = token(b, &form, Some((&id, &secret))).await;
    assert_eq!(st, 200, "{from_b}");

    // A token from A introspects active at B, and the other way round.
    let at_a = from_a["access_token"].as_str().unwrap().to_owned();
    let at_b = from_b["access_token"].as_str().unwrap().to_owned();
    let seen = introspect(b, (&api_id, &api_secret), &at_a).await;
    assert_eq!((seen["active"].as_bool(), seen["client_id"].as_str()), (Some(true), Some(id.as_str())));
    assert_eq!(introspect(a, (&api_id, &api_secret), &at_b).await["active"], true);

    // Revoked at B: inactive at A at once.
    let (st, _) = post_form(b, "/revoke", (&id, &secret), &format!("token={at_a}")).await;
    assert_eq!(st, 200);
    assert_eq!(introspect(a, (&api_id, &api_secret), &at_a).await, serde_json::json!({"active": false}));
    assert_eq!(introspect(b, (&api_id, &api_secret), &at_b).await["active"], true, "only that token");

    // Refresh tokens: issued at A, revoked at B, refused at A.
    a.user("alice", "alice-pw", &[]);
    let (app_id, app_secret) =
        a.client(&["--name", "app", "--grant-type", "password", "--grant-type", "refresh_token"]);
    let (st, _, pair) = token(
        a,
        &[("grant_type", "password"), ("username", "alice"), ("password", "alice-pw")],
        Some((&app_id, &app_secret)),
    )
    .await;
    assert_eq!(st, 200, "{pair}");
    let rt = pair["refresh_token"].as_str().unwrap();
    let (st, _) = post_form(b, "/revoke", (&app_id, &app_secret), &format!("token={rt}")).await;
    assert_eq!(st, 200);
    let (st, _, body) =
        token(a, &[("grant_type", "refresh_token"), ("refresh_token", rt)], Some((&app_id, &app_secret)))
            .await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");

    // Changes through the CLI reach both nodes at once: a rotated secret, a deleted client.
    let rotated = a.cli(&["client", "rotate-secret", &id, "--json"]).json();
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    for node in [a, b] {
        let (st, _, body) = token(node, &form, Some((&id, &secret))).await;
        assert_eq!((st, body["error"].as_str()), (401, Some("invalid_client")), "old secret: {body}");
        let (st, _, body) = token(node, &form, Some((&id, &new_secret))).await;
        assert_eq!(st, 200, "new secret: {body}");
    }
    a.cli(&["client", "delete", &id, "--json"]).json();
    for node in [a, b] {
        let (st, _, body) = token(node, &form, Some((&id, &new_secret))).await;
        assert_eq!((st, body["error"].as_str()), (401, Some("invalid_client")), "deleted: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn login_on_one_node_and_consent_on_the_other_complete_one_flow() {
    if skip("login_on_one_node_and_consent_on_the_other_complete_one_flow") {
        return;
    }
    let db = Arc::new(Database::new());
    let nodes = start_nodes(&db, 2);
    let (a, b) = (&nodes[0], &nodes[1]);
    a.cli(&["scope", "create", "notes:read", "--description", "Read your notes", "--json"]).json();
    a.user("alice", "pw-alice-1", &[]);
    let (id, secret) =
        a.client(&["--name", "Notes", "--redirect-uri", "https://notes.example/cb", "--scope", "notes:read"]);
    // RFC 7636 Appendix B.
    let (verifier, challenge) =
        ("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    let url = a.url(&format!(
        "/authorize?response_type=code&client_id={id}&state=s1&scope=notes:read\
         &code_challenge={challenge}&code_challenge_method=S256"
    ));
    let mut agent = flow::Agent::default();
    // The request arrives at A, the login page is answered by A, the consent page by B.
    let location = agent.authorize_across(&[a, b], &url, "alice", "pw-alice-1", true).await;
    assert!(agent.consent_asked, "the consent page was shown (by B)");
    assert!(location.starts_with("https://notes.example/cb?code="), "{location}");
    assert_eq!(flow::query_param(&location, "state").as_deref(), Some("s1"));
    let code = flow::query_param(&location, "code").unwrap();
    // The code is redeemed at A; a replay at B is refused and revokes what it issued.
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://notes.example/cb"),
        ("code_verifier", verifier),
    ];
    let (st, _, tokens) = token(a, &exchange, Some((&id, &secret))).await;
    assert_eq!(st, 200, "{tokens}");
    let (st, _, body) = token(b, &exchange, Some((&id, &secret))).await;
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(introspect(a, (&id, &secret), at).await, serde_json::json!({"active": false}));

    // The session made at A logs alice in at B: a second request there needs no login page.
    let url_b = b.url(&format!(
        "/authorize?response_type=code&client_id={id}&state=s2&scope=notes:read\
         &code_challenge={challenge}&code_challenge_method=S256"
    ));
    let location = agent.authorize_across(&[b], &url_b, "nobody", "wrong", true).await;
    assert!(location.starts_with("https://notes.example/cb?code="), "{location}");
    assert!(!agent.consent_asked, "the consent given at B is remembered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_token_raced_across_nodes_is_redeemed_once_and_the_family_revoked() {
    if skip("a_refresh_token_raced_across_nodes_is_redeemed_once_and_the_family_revoked") {
        return;
    }
    let db = Arc::new(Database::new());
    let nodes = start_nodes(&db, 2);
    nodes[0].user("alice", "alice-pw", &[]);
    let (id, secret) =
        nodes[0].client(&["--name", "app", "--grant-type", "password", "--grant-type", "refresh_token"]);
    let (api_id, api_secret) = nodes[0].client(&["--name", "api", "--grant-type", "client_credentials"]);
    let nodes = Arc::new(nodes);
    for round in 0..5 {
        let (st, _, pair) = token(
            &nodes[0],
            &[("grant_type", "password"), ("username", "alice"), ("password", "alice-pw")],
            Some((&id, &secret)),
        )
        .await;
        assert_eq!(st, 200, "{pair}");
        let rt = pair["refresh_token"].as_str().unwrap().to_owned();
        const RACERS: usize = 20;
        let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
        let mut tasks = Vec::new();
        for i in 0..RACERS {
            let (nodes, barrier, rt, id, secret) =
                (Arc::clone(&nodes), Arc::clone(&barrier), rt.clone(), id.clone(), secret.clone());
            tasks.push(tokio::spawn(async move {
                let node = &nodes[i % 2];
                barrier.wait().await;
                let form = [("grant_type", "refresh_token"), ("refresh_token", rt.as_str())];
                let (st, _, body) = token(node, &form, Some((&id, &secret))).await;
                (st, body)
            }));
        }
        let mut wins = Vec::new();
        for t in tasks {
            let (st, body) = t.await.unwrap();
            match st {
                200 => wins.push(body),
                400 => assert_eq!(body["error"], "invalid_grant", "{body}"),
                other => panic!("round {round}: {other} {body}"),
            }
        }
        assert_eq!(wins.len(), 1, "round {round}: exactly one redemption wins across nodes");
        for node in nodes.iter() {
            for t in [&pair["access_token"], &wins[0]["access_token"], &wins[0]["refresh_token"]] {
                let seen = introspect(node, (&api_id, &api_secret), t.as_str().unwrap()).await;
                assert_eq!(seen, serde_json::json!({"active": false}), "round {round}: family revoked");
            }
        }
    }
}

async fn kids(node: &Server) -> Vec<String> {
    let jwks: Value = http().get(node.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

/// The `kid` in a JWT's header.
fn jwt_kid(jwt: &str) -> String {
    use base64::Engine;
    let header = jwt.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap();
    let header: Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signing_keys_are_created_once_and_rotations_are_published_by_every_node() {
    if skip("signing_keys_are_created_once_and_rotations_are_published_by_every_node") {
        return;
    }
    let db = Arc::new(Database::new());
    // Both nodes start at once on an empty database: one first key, published by both.
    let nodes = start_nodes(&db, 2);
    let (a, b) = (&nodes[0], &nodes[1]);
    let first = kids(a).await;
    assert_eq!(first.len(), 1, "one first key even when nodes start together: {first:?}");
    assert_eq!(kids(b).await, first);

    let (id, secret) = a.client(&[
        "--name",
        "jwt-app",
        "--grant-type",
        "client_credentials",
        "--access-token-format",
        "jwt",
    ]);
    let form = [("grant_type", "client_credentials")];
    let (st, _, body) = token(b, &form, Some((&id, &secret))).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(jwt_kid(body["access_token"].as_str().unwrap()), first[0], "B signs with the shared key");

    // A rotation (through the CLI, as through either node) is published by both at once, and
    // both sign with the new key within the bound on their cached key list (1 s,
    // `KEY_LIST_MAX_AGE`), meanwhile with the previous one, which stays published.
    let rotated = a.cli(&["keys", "rotate", "--json"]).json();
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    for node in [a, b] {
        assert_eq!(kids(node).await, vec![first[0].clone(), new_kid.clone()], "{}", node.base);
    }
    // The rotation committed before the CLI returned: a request sent 1 s after that must get
    // the new key.
    let deadline = Instant::now() + Duration::from_secs(1);
    for node in [a, b] {
        loop {
            let sent = Instant::now();
            let (st, _, body) = token(node, &form, Some((&id, &secret))).await;
            assert_eq!(st, 200, "{body}");
            let kid = jwt_kid(body["access_token"].as_str().unwrap());
            if kid == new_kid {
                break;
            }
            assert_eq!(kid, first[0], "{}", node.base);
            assert!(sent < deadline, "{} still signs with the old key", node.base);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Retiring the old key at once removes it from both.
    a.cli(&["keys", "retire", &first[0], "--now", "--json"]).json();
    for node in [a, b] {
        assert_eq!(kids(node).await, vec![new_kid.clone()], "{}", node.base);
    }
}

/// Run the binary and wait at most `limit` for it to exit.
fn run_with_timeout(args: &[&str], limit: Duration) -> (i32, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            let text =
                String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
            return (out.status.code().unwrap_or(-1), text);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("portcullis {args:?} did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn concurrent_migrate_runs_do_not_race_and_serve_can_skip_migrating() {
    if skip("concurrent_migrate_runs_do_not_race_and_serve_can_skip_migrating") {
        return;
    }
    let db = Arc::new(Database::new());
    // A node told not to migrate refuses a database whose schema is not current.
    let serve = ["serve", "--listen", "127.0.0.1:0", "--auto-migrate", "false", "--database-url", &db.url];
    let (code, out) = run_with_timeout(&serve, Duration::from_secs(30));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("portcullis migrate"), "{out}");
    assert!(!out.contains(":portcullis@"), "the password is not printed: {out}");

    // Several `portcullis migrate` at once on the empty database: all succeed.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || {
                run_with_timeout(&["migrate", "--json", "--database-url", &url], Duration::from_secs(60))
            })
        })
        .collect();
    for t in threads {
        let (code, out) = t.join().unwrap();
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("\"migrated\"") && !out.contains(":portcullis@"), "{out}");
    }
    let (code, out) = run_with_timeout(&["migrate", "--database-url", &db.url], Duration::from_secs(30));
    assert_eq!(code, 0, "migrate again changes nothing: {out}");

    // Now a node that does not migrate starts, and serves.
    let node = Server::start_on(Arc::clone(&db), &["--auto-migrate", "false"], &[]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status = rt.block_on(async { http().get(node.url("/health/ready")).send().await.unwrap().status() });
    assert_eq!(status.as_u16(), 200);
}
