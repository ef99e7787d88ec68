//! The management CLI end to end: the real `portcullis` binary against a real SQLite file,
//! checked through its `--json` output and exit codes (issue #2, "The binary").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

/// A fresh database in a temporary directory.
struct Db {
    dir: tempfile::TempDir,
    url: String,
}

/// The outcome of one run of the binary.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Db {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("p.db").display());
        Db { dir, url }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .args(["--database-url", &self.url])
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("PORTCULLIS_CONFIG")
            .env_remove("PORTCULLIS_DATABASE_URL");
        cmd
    }

    /// Run with `args` and, when given, `stdin` (otherwise stdin is /dev/null: not a terminal).
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut child = self
            .command(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Run with `--json`, expect success, parse stdout.
    fn json(&self, args: &[&str]) -> Value {
        self.json_stdin(args, None)
    }

    fn json_stdin(&self, args: &[&str], stdin: Option<&str>) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let r = self.run(&a, stdin);
        assert_eq!(r.code, 0, "{args:?} failed: {}", r.stderr);
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", r.stdout))
    }

    /// Expect a failure with a one-line `error: …` on stderr; returns that line.
    fn fails(&self, args: &[&str]) -> String {
        self.fails_stdin(args, None)
    }

    fn fails_stdin(&self, args: &[&str], stdin: Option<&str>) -> String {
        let r = self.run(args, stdin);
        assert_eq!(r.code, 1, "{args:?} should fail with exit 1: stdout {} stderr {}", r.stdout, r.stderr);
        assert!(r.stdout.is_empty(), "{args:?} printed on failure: {}", r.stdout);
        let err = r.stderr.trim_end();
        assert!(err.starts_with("error: ") && !err.contains('\n'), "{args:?}: not a one-line error: {err:?}");
        err.to_owned()
    }

    /// `client create --json` with `args`.
    fn client(&self, args: &[&str]) -> Value {
        let mut a = vec!["client", "create"];
        a.extend_from_slice(args);
        self.json(&a)
    }

    /// `user create --json --password-stdin` with `args`.
    fn user(&self, username: &str, password: &str, args: &[&str]) -> Value {
        let mut a = vec!["user", "create", "--username", username, "--password-stdin"];
        a.extend_from_slice(args);
        self.json_stdin(&a, Some(&format!("{password}\n")))
    }
}

fn id_of(v: &Value) -> String {
    v["client_id"].as_str().unwrap().to_owned()
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array().unwrap().iter().map(|v| v[key].as_str().unwrap().to_owned()).collect()
}

// ---------------------------------------------------------------------------------------------
// client

#[test]
fn client_create_prints_secret_once_and_stores_only_a_hash() {
    let db = Db::new();
    let created = db.client(&["--name", "billing", "--grant-type", "client_credentials"]);
    let id = id_of(&created);
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("pc_cs_"), "{secret}");
    assert!(!id.is_empty());
    assert_eq!(created["client_secret_expires_at"], 0);

    // Nothing but create (and rotate-secret) ever shows the secret, or its hash.
    let shown = db.json(&["client", "show", &id]);
    assert!(shown.get("client_secret").is_none(), "{shown}");
    for out in [db.run(&["client", "show", &id, "--json"], None), db.run(&["client", "show", &id], None)] {
        assert!(!out.stdout.contains(&secret) && !out.stdout.contains("sha256"), "{}", out.stdout);
    }
    for out in [db.run(&["client", "list", "--json"], None), db.run(&["client", "list"], None)] {
        assert_eq!(out.code, 0);
        assert!(!out.stdout.contains(&secret) && !out.stdout.contains("sha256"), "{}", out.stdout);
        assert!(out.stdout.contains(&id));
    }
    // The file holds a hash, not the secret.
    let raw = std::fs::read(db.dir.path().join("p.db")).unwrap();
    assert!(!raw.windows(secret.len()).any(|w| w == secret.as_bytes()));

    // Text mode prints the id and the secret too.
    let text = db.run(&["client", "create", "--name", "other"], None);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("client_id:") && text.stdout.contains("pc_cs_"), "{}", text.stdout);
}

#[test]
fn client_create_defaults_and_all_fields() {
    let db = Db::new();
    let c = db.client(&["--name", "web", "--redirect-uri", "https://app.example.com/cb"]);
    assert_eq!(c["name"], "web");
    assert_eq!(c["grant_types"], serde_json::json!(["authorization_code", "refresh_token"]));
    assert_eq!(c["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(c["redirect_uris"], serde_json::json!(["https://app.example.com/cb"]));
    assert_eq!(c["trusted"], false);
    assert_eq!(c["scope"], "");
    assert!(c["access_token_lifetime"].is_null() && c["refresh_token_lifetime"].is_null());
    assert!(c["authorization_code_lifetime"].is_null());

    let c = db.client(&[
        "--name",
        "full",
        "--redirect-uri",
        "https://a.example/cb",
        "--redirect-uri",
        "http://127.0.0.1:9000/cb",
        "--grant-type",
        "authorization_code",
        "--grant-type",
        "password",
        "--scope",
        "openid profile",
        "--auth-method",
        "client_secret_post",
        "--trusted",
        "--access-token-lifetime",
        "60",
        "--refresh-token-lifetime",
        "600",
        "--authorization-code-lifetime",
        "30",
    ]);
    assert_eq!(c["redirect_uris"], serde_json::json!(["https://a.example/cb", "http://127.0.0.1:9000/cb"]));
    assert_eq!(c["grant_types"], serde_json::json!(["authorization_code", "password"]));
    assert_eq!(c["scope"], "openid profile");
    assert_eq!(c["token_endpoint_auth_method"], "client_secret_post");
    assert_eq!(c["trusted"], true);
    assert_eq!(
        (c["access_token_lifetime"].as_i64(), c["refresh_token_lifetime"].as_i64()),
        (Some(60), Some(600))
    );
    assert_eq!(c["authorization_code_lifetime"], 30);
    // What show reads back from the database is what create printed (minus the secret).
    let shown = db.json(&["client", "show", &id_of(&c)]);
    for key in ["name", "redirect_uris", "grant_types", "scope", "token_endpoint_auth_method", "trusted"] {
        assert_eq!(shown[key], c[key], "{key}");
    }
}

#[test]
fn public_clients_have_no_secret() {
    let db = Db::new();
    for flags in [&["--public"][..], &["--auth-method", "none"], &["--public", "--auth-method", "none"]] {
        let mut a = vec!["--name", "spa", "--redirect-uri", "https://spa.example/cb"];
        a.extend_from_slice(flags);
        let c = db.client(&a);
        assert_eq!(c["token_endpoint_auth_method"], "none", "{flags:?}");
        assert!(c["client_secret"].is_null(), "{flags:?}: {c}");
        assert!(c.get("client_secret_expires_at").is_none());
        let err = db.fails(&["client", "rotate-secret", &id_of(&c)]);
        assert!(err.contains("public"), "{err}");
    }
    let err =
        db.fails(&["client", "create", "--name", "x", "--public", "--grant-type", "client_credentials"]);
    assert!(err.contains("client_credentials"), "{err}");
    let err = db.fails(&[
        "client",
        "create",
        "--name",
        "x",
        "--auth-method",
        "none",
        "--grant-type",
        "client_credentials",
    ]);
    assert!(err.contains("client_credentials"), "{err}");
    let err = db.fails(&["client", "create", "--name", "x", "--public", "--secret", "s3cret"]);
    assert!(err.contains("--secret"), "{err}");
    let err = db.fails(&["client", "create", "--name", "x", "--auth-method", "none", "--secret", "s3cret"]);
    assert!(err.contains("--secret"), "{err}");
    let err =
        db.fails(&["client", "create", "--name", "x", "--public", "--auth-method", "client_secret_basic"]);
    assert!(err.contains("--public"), "{err}");
    let err = db.fails(&["client", "create", "--name", "x", "--auth-method", "private_key_jwt"]);
    assert!(err.contains("--auth-method"), "{err}");
    // None of the refused ones were stored.
    assert_eq!(db.json(&["client", "list"]).as_array().unwrap().len(), 3);
}

#[test]
fn client_import_with_id_and_secret() {
    let db = Db::new();
    let c = db.client(&[
        "--name",
        "legacy",
        "--id",
        "legacy-app",
        "--secret",
        "imported-s3cret",
        "--grant-type",
        "client_credentials",
    ]);
    assert_eq!(c["client_id"], "legacy-app");
    // The operator already has the imported secret: it is not echoed.
    assert!(c["client_secret"].is_null(), "{c}");
    assert_eq!(c["token_endpoint_auth_method"], "client_secret_basic");
    let shown = db.json(&["client", "show", "legacy-app"]);
    assert_eq!(shown["name"], "legacy");
    let raw = std::fs::read(db.dir.path().join("p.db")).unwrap();
    assert!(!raw.windows(15).any(|w| w == b"imported-s3cret"), "the imported secret is stored in clear");

    // An id alone imports the id and generates the secret.
    let c = db.client(&["--name", "keep-id", "--id", "kept"]);
    assert_eq!(c["client_id"], "kept");
    assert!(c["client_secret"].as_str().is_some_and(|s| s.starts_with("pc_cs_")));

    let err = db.fails(&["client", "create", "--name", "again", "--id", "legacy-app"]);
    assert!(err.contains("already exists"), "{err}");
    let err = db.fails(&["client", "create", "--name", "bad", "--id", "has space"]);
    assert!(err.contains("--id"), "{err}");
    let err = db.fails(&["client", "create", "--name", "bad", "--id", ""]);
    assert!(err.contains("--id"), "{err}");
    let err = db.fails(&["client", "create", "--name", "bad", "--secret", ""]);
    assert!(err.contains("--secret"), "{err}");
}

#[test]
fn grant_types_are_validated() {
    let db = Db::new();
    for bad in ["implicit", "client-credentials", "foo", "urn:", ""] {
        let err = db.fails(&["client", "create", "--name", "x", "--grant-type", bad]);
        assert!(err.contains("grant type"), "{bad}: {err}");
    }
    // RFC 6749 §4.5: an extension grant is an absolute URI.
    for ok in ["urn:ietf:params:oauth:grant-type:jwt-bearer", "https://grants.example.com/custom"] {
        let c = db.client(&["--name", "ext", "--grant-type", ok, "--grant-type", "refresh_token"]);
        assert_eq!(c["grant_types"], serde_json::json!([ok, "refresh_token"]));
    }
    // Repeated grant types are kept once.
    let c = db.client(&["--name", "dup", "--grant-type", "password", "--grant-type", "password"]);
    assert_eq!(c["grant_types"], serde_json::json!(["password"]));
}

#[test]
fn invalid_redirect_uris_are_refused() {
    let db = Db::new();
    let refused = [
        ("", "empty"),
        ("/cb", "relative"),
        ("app.example.com/cb", "no scheme"),
        ("https://app.example.com/cb#frag", "fragment (RFC 6749 §3.1.2)"),
        ("https://app.example.com/cb#", "empty fragment"),
        ("https://*.example.com/cb", "wildcard host"),
        ("https://app.example.com/*", "wildcard path"),
        ("javascript:alert(1)", "javascript:"),
        ("JavaScript:alert(1)", "javascript: in mixed case"),
        ("data:text/html,<script>alert(1)</script>", "data:"),
        ("data:text/html;base64,PHNjcmlwdD4=", "data: without odd characters"),
        ("vbscript:msgbox(1)", "vbscript:"),
        ("http://app.example.com/cb", "http on a non-loopback host"),
        ("http://127.0.0.1.evil.example/cb", "loopback-looking host"),
        ("http://localhost.evil.example/cb", "localhost-looking host"),
        ("http://127.0.0.1@evil.example/cb", "userinfo hiding the real host"),
        ("https://user:pw@app.example.com/cb", "userinfo"),
        ("https:///cb", "no host"),
        ("https:app.example.com/cb", "no authority"),
        ("https://app.example.com:99999/cb", "port out of range"),
        ("https://app.example.com/a b", "space"),
        ("https://app.example.com/%zz", "bad escape"),
        ("myapp:/cb", "private-use scheme without a dot (RFC 8252 §7.1)"),
        ("com.example.app:", "nothing after the scheme"),
    ];
    for (uri, why) in refused {
        let err = db.fails(&["client", "create", "--name", "x", "--redirect-uri", uri]);
        assert!(err.contains("--redirect-uri"), "{why}: {err}");
    }
    assert_eq!(db.json(&["client", "list"]), serde_json::json!([]), "a refused client was stored");

    let accepted = [
        "https://app.example.com/cb",
        "https://app.example.com:8443/cb?tenant=a&x=1",
        "https://app.example.com/cb%20x",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:51004/cb",
        "http://[::1]:8080/cb",
        "http://localhost:3000/callback",
        "com.example.app:/oauth2redirect",
        "com.example.app://cb",
    ];
    for uri in accepted {
        let c = db.client(&["--name", "ok", "--redirect-uri", uri]);
        assert_eq!(c["redirect_uris"], serde_json::json!([uri]));
    }
}

#[test]
fn client_scopes_are_validated_and_registered() {
    let db = Db::new();
    for bad in ["a\"b", "a  b", "a\\b", " a", "caf\u{e9}"] {
        let err = db.fails(&["client", "create", "--name", "x", "--scope", bad]);
        assert!(err.contains("--scope"), "{bad:?}: {err}");
    }
    db.json(&["scope", "create", "known", "--description", "Known scope"]);
    let r =
        db.run(&["client", "create", "--name", "billing", "--scope", "invoices:read known", "--json"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("invoices:read") && !r.stderr.contains("\"known\""), "{}", r.stderr);
    let c: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(c["scope"], "invoices:read known");
    let scopes = db.json(&["scope", "list"]);
    assert_eq!(names(&scopes, "name"), ["invoices:read", "known"]);
    assert_eq!(scopes[0]["description"], "");
    assert_eq!(scopes[1]["description"], "Known scope", "an existing scope was overwritten");
}

#[test]
fn client_lifetimes_must_be_positive() {
    let db = Db::new();
    for flag in ["--access-token-lifetime", "--refresh-token-lifetime", "--authorization-code-lifetime"] {
        for bad in ["0", "-5"] {
            let err = db.fails(&["client", "create", "--name", "x", flag, bad]);
            assert!(err.contains(flag), "{flag} {bad}: {err}");
        }
        // Not a number at all: clap refuses it (usage error, exit 2).
        let r = db.run(&["client", "create", "--name", "x", flag, "soon"], None);
        assert_eq!(r.code, 2, "{}", r.stderr);
    }
    assert!(db.fails(&["client", "create", "--name", "  "]).contains("--name"));
}

#[test]
fn client_update_replaces_given_fields() {
    let db = Db::new();
    let c = db.client(&["--name", "app", "--redirect-uri", "https://a.example/cb", "--scope", "a"]);
    let id = id_of(&c);

    let u = db.json(&[
        "client",
        "update",
        &id,
        "--name",
        "renamed",
        "--redirect-uri",
        "https://b.example/cb",
        "--redirect-uri",
        "https://c.example/cb",
        "--trusted",
        "--auth-method",
        "client_secret_post",
        "--access-token-lifetime",
        "120",
    ]);
    assert_eq!(u["name"], "renamed");
    assert_eq!(u["redirect_uris"], serde_json::json!(["https://b.example/cb", "https://c.example/cb"]));
    assert_eq!(u["trusted"], true);
    assert_eq!(u["token_endpoint_auth_method"], "client_secret_post");
    assert_eq!(u["access_token_lifetime"], 120);
    // Untouched fields stay.
    assert_eq!(u["scope"], "a");
    assert_eq!(u["grant_types"], c["grant_types"]);
    assert!(u.get("client_secret").is_none());

    let u = db.json(&[
        "client",
        "update",
        &id,
        "--no-trusted",
        "--scope",
        "a b",
        "--grant-type",
        "client_credentials",
    ]);
    assert_eq!((u["trusted"].as_bool(), u["scope"].as_str()), (Some(false), Some("a b")));
    assert_eq!(u["grant_types"], serde_json::json!(["client_credentials"]));
    assert_eq!(names(&db.json(&["scope", "list"]), "name"), ["a", "b"]);
    assert_eq!(db.json(&["client", "show", &id]), u);
    let u = db.json(&["client", "update", &id, "--scope", ""]);
    assert_eq!(u["scope"], "");

    // Validation is the same as on create.
    assert!(db
        .fails(&["client", "update", &id, "--redirect-uri", "http://evil.example/cb"])
        .contains("--redirect-uri"));
    assert!(db.fails(&["client", "update", &id, "--grant-type", "implicit"]).contains("grant type"));
    assert!(db.fails(&["client", "update", &id, "--access-token-lifetime", "0"]).contains("lifetime"));
    assert!(db.fails(&["client", "update", &id, "--auth-method", "none"]).contains("public"));
    assert!(db.fails(&["client", "update", &id, "--trusted", "--no-trusted"]).contains("--no-trusted"));
    assert!(db.fails(&["client", "update", &id]).contains("nothing to update"));
    assert!(db.fails(&["client", "update", "nope", "--name", "x"]).contains("no client"));

    let public = id_of(&db.client(&["--name", "spa", "--public"]));
    assert!(db
        .fails(&["client", "update", &public, "--grant-type", "client_credentials"])
        .contains("client_credentials"));
    assert!(db
        .fails(&["client", "update", &public, "--auth-method", "client_secret_basic"])
        .contains("public"));
    // The refused updates changed nothing.
    assert_eq!(db.json(&["client", "show", &id]), u);
}

#[test]
fn client_rotate_secret_and_delete() {
    let db = Db::new();
    let c = db.client(&["--name", "svc", "--grant-type", "client_credentials"]);
    let id = id_of(&c);
    let r = db.json(&["client", "rotate-secret", &id]);
    assert_eq!(r["client_id"], id.as_str());
    let new = r["client_secret"].as_str().unwrap();
    assert!(new.starts_with("pc_cs_") && new != c["client_secret"].as_str().unwrap());
    assert!(db.fails(&["client", "rotate-secret", "nope"]).contains("no client"));

    let text = db.run(&["client", "rotate-secret", &id], None);
    assert_eq!(text.code, 0);
    assert!(text.stdout.contains("pc_cs_"));

    let d = db.json(&["client", "delete", &id]);
    assert_eq!((d["client_id"].as_str(), d["deleted"].as_bool()), (Some(id.as_str()), Some(true)));
    assert!(db.fails(&["client", "show", &id]).contains("no client"));
    assert!(db.fails(&["client", "delete", &id]).contains("no client"));
    assert_eq!(db.json(&["client", "list"]), serde_json::json!([]));
}

#[test]
fn client_list_is_a_json_array_or_a_table() {
    let db = Db::new();
    assert_eq!(db.json(&["client", "list"]), serde_json::json!([]));
    db.client(&["--name", "one"]);
    db.client(&["--name", "two", "--public"]);
    let list = db.json(&["client", "list"]);
    assert_eq!(names(&list, "name"), ["one", "two"]);
    let text = db.run(&["client", "list"], None);
    assert_eq!(text.code, 0);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", text.stdout);
    assert!(lines[0].starts_with("CLIENT_ID") && lines[1].contains("one") && lines[2].contains("two"));
}

// ---------------------------------------------------------------------------------------------
// user

#[test]
fn user_create_with_password_stdin_and_profile_claims() {
    let db = Db::new();
    let u = db.user(
        "alice",
        "correct horse battery staple",
        &[
            "--email",
            "alice@example.com",
            "--email-verified",
            "--name",
            "Alice Liddell",
            "--given-name",
            "Alice",
            "--family-name",
            "Liddell",
            "--phone-number",
            "+1 555 0100",
            "--claim",
            "age=42",
            "--claim",
            "locale=en-GB",
            "--claim",
            "address={\"country\":\"UK\"}",
        ],
    );
    assert_eq!(u["username"], "alice");
    assert_eq!(u["has_password"], true);
    let claims = &u["claims"];
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "Alice Liddell");
    assert_eq!(claims["given_name"], "Alice");
    assert_eq!(claims["family_name"], "Liddell");
    assert_eq!(claims["phone_number"], "+1 555 0100");
    assert_eq!(claims["age"], 42);
    assert_eq!(claims["locale"], "en-GB");
    assert_eq!(claims["address"]["country"], "UK");
    let id = u["id"].as_str().unwrap().to_owned();

    // show by username and by id; JSON never has the hash.
    assert_eq!(db.json(&["user", "show", "alice"]), u);
    assert_eq!(db.json(&["user", "show", &id]), u);
    for args in [
        &["user", "show", "alice", "--json"][..],
        &["user", "show", "alice"],
        &["user", "list", "--json"],
        &["user", "list"],
    ] {
        let r = db.run(args, None);
        assert_eq!(r.code, 0, "{args:?}");
        assert!(
            !r.stdout.contains("argon2") && !r.stdout.contains("password_hash"),
            "{args:?}: {}",
            r.stdout
        );
        assert!(!r.stdout.contains("correct horse"), "{args:?}");
    }
    assert_eq!(names(&db.json(&["user", "list"]), "username"), ["alice"]);

    // A trailing CRLF is stripped too; empty passwords are refused.
    db.user("bob", "pw-bob", &[]);
    let r = db.json_stdin(&["user", "create", "--username", "carol", "--password-stdin"], Some("pw\r\n"));
    assert_eq!(r["has_password"], true);
    let err = db.fails_stdin(&["user", "create", "--username", "dave", "--password-stdin"], Some("\n"));
    assert!(err.contains("empty"), "{err}");
    let err = db.fails_stdin(&["user", "create", "--username", "dave", "--password-stdin"], Some(""));
    assert!(err.contains("standard input"), "{err}");

    let err = db.fails_stdin(&["user", "create", "--username", "alice", "--password-stdin"], Some("x\n"));
    assert!(err.contains("already exists"), "{err}");
    for bad in ["", "has space", "tab\there"] {
        let err = db.fails(&["user", "create", "--username", bad, "--no-password"]);
        assert!(err.contains("--username"), "{bad:?}: {err}");
    }
    for bad in ["sub=x", "iss=x", "novalue", "=x"] {
        let err = db.fails(&["user", "create", "--username", "eve", "--no-password", "--claim", bad]);
        assert!(err.contains("--claim"), "{bad}: {err}");
    }
    assert!(db
        .fails(&["user", "create", "--username", "eve", "--no-password", "--email", "nope"])
        .contains("--email"));
    assert!(db.fails(&["user", "show", "nobody"]).contains("no user"));
}

#[test]
fn user_password_never_from_flag() {
    let db = Db::new();
    // There is no --password flag: clap refuses it as a usage error.
    let r = db.run(&["user", "create", "--username", "alice", "--password", "hunter2"], None);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--password"), "{}", r.stderr);
    let r = db.run(&["user", "create", "--username", "alice", "--password=hunter2"], None);
    assert_eq!(r.code, 2);
    // --password-stdin takes no value either.
    let r = db.run(&["user", "create", "--username", "alice", "--password-stdin=hunter2"], Some("x\n"));
    assert_eq!(r.code, 2);
    // Without --password-stdin and without a terminal there is nothing to prompt on.
    let err = db.fails(&["user", "create", "--username", "alice"]);
    assert!(err.contains("--password-stdin"), "{err}");
    let err = db.fails(&["user", "create", "--username", "alice", "--password-stdin", "--no-password"]);
    assert!(err.contains("--no-password"), "{err}");
    assert_eq!(db.json(&["user", "list"]), serde_json::json!([]));
}

#[test]
fn user_without_password_and_set_password() {
    let db = Db::new();
    let u = db.json(&["user", "create", "--username", "svc", "--no-password"]);
    assert_eq!(u["has_password"], false);
    assert_eq!(u["claims"], serde_json::json!({}));

    let s = db.json_stdin(&["user", "set-password", "svc", "--password-stdin"], Some("new-password\n"));
    assert_eq!(s["has_password"], true);
    assert!(s.get("password_hash").is_none());
    assert_eq!(db.json(&["user", "show", "svc"])["has_password"], true);
    let by_id = u["id"].as_str().unwrap();
    let s = db.json(&["user", "set-password", by_id, "--no-password"]);
    assert_eq!(s["has_password"], false);
    let err = db.fails(&["user", "set-password", "svc"]);
    assert!(err.contains("--password-stdin"), "{err}");
    let err = db.fails_stdin(&["user", "set-password", "svc", "--password-stdin"], Some("\n"));
    assert!(err.contains("empty"), "{err}");
    let err = db.fails_stdin(&["user", "set-password", "nobody", "--password-stdin"], Some("x\n"));
    assert!(err.contains("no user"), "{err}");
    assert_eq!(db.json(&["user", "show", "svc"])["has_password"], false);
}

#[test]
fn user_update_and_delete() {
    let db = Db::new();
    let u =
        db.user("alice", "pw", &["--email", "a@example.com", "--claim", "age=42", "--claim", "team=blue"]);
    let id = u["id"].as_str().unwrap().to_owned();
    db.user("bob", "pw", &[]);

    let up = db.json(&[
        "user",
        "update",
        "alice",
        "--email",
        "alice@example.org",
        "--email-verified=false",
        "--claim",
        "age=null",
        "--claim",
        "team=red",
    ]);
    assert_eq!(
        up["claims"],
        serde_json::json!({"email": "alice@example.org", "email_verified": false, "team": "red"})
    );
    assert_eq!(up["has_password"], true, "update must not touch the password");

    let renamed = db.json(&["user", "update", &id, "--username", "alice2"]);
    assert_eq!((renamed["username"].as_str(), renamed["id"].as_str()), (Some("alice2"), Some(id.as_str())));
    assert!(db.fails(&["user", "show", "alice"]).contains("no user"));
    assert!(db.fails(&["user", "update", "alice2", "--username", "bob"]).contains("already exists"));
    assert!(db.fails(&["user", "update", "alice2"]).contains("nothing to update"));
    assert!(db.fails(&["user", "update", "nobody", "--name", "x"]).contains("no user"));

    let d = db.json(&["user", "delete", "alice2"]);
    assert_eq!((d["id"].as_str(), d["deleted"].as_bool()), (Some(id.as_str()), Some(true)));
    assert!(db.fails(&["user", "delete", "alice2"]).contains("no user"));
    let bob = db.json(&["user", "show", "bob"]);
    let d = db.json(&["user", "delete", bob["id"].as_str().unwrap()]);
    assert_eq!(d["username"], "bob");
    assert_eq!(db.json(&["user", "list"]), serde_json::json!([]));
}

// ---------------------------------------------------------------------------------------------
// scope

#[test]
fn scope_create_list_update_delete() {
    let db = Db::new();
    let s = db.json(&["scope", "create", "notes:read", "--description", "Read your notes", "--default"]);
    assert_eq!(
        s,
        serde_json::json!({"name": "notes:read", "description": "Read your notes", "default": true, "translations": {}})
    );
    let t = db.json(&["scope", "update", "notes:read", "--translation", "de=Deine Notizen lesen"]);
    assert_eq!(t["translations"], serde_json::json!({"de": "Deine Notizen lesen"}));
    let t = db.json(&["scope", "update", "notes:read", "--translation", "de="]);
    assert_eq!(t["translations"], serde_json::json!({}));
    assert_ne!(db.run(&["scope", "update", "notes:read", "--translation", "not a tag=x"], None).code, 0);
    let s = db.json(&["scope", "create", "admin"]);
    assert_eq!(
        s,
        serde_json::json!({"name": "admin", "description": "", "default": false, "translations": {}})
    );

    let list = db.json(&["scope", "list"]);
    assert_eq!(names(&list, "name"), ["admin", "notes:read"]);

    let u = db.json(&["scope", "update", "notes:read", "--no-default", "--description", "Read notes"]);
    assert_eq!(
        u,
        serde_json::json!({"name": "notes:read", "description": "Read notes", "default": false, "translations": {}})
    );
    let u = db.json(&["scope", "update", "admin", "--default"]);
    assert_eq!(u["default"], true);
    assert_eq!(db.json(&["scope", "list"])[0], u);

    for bad in ["a b", "a\"b", "a\\b", "", "caf\u{e9}"] {
        let err = db.fails(&["scope", "create", bad]);
        assert!(err.contains("scope name"), "{bad:?}: {err}");
    }
    assert!(db.fails(&["scope", "create", "admin"]).contains("already exists"));
    assert!(db.fails(&["scope", "update", "nope", "--default"]).contains("no scope"));
    assert!(db.fails(&["scope", "update", "admin"]).contains("nothing to update"));
    assert!(db.fails(&["scope", "update", "admin", "--default", "--no-default"]).contains("--no-default"));

    let text = db.run(&["scope", "list"], None);
    assert!(text.stdout.starts_with("NAME") && text.stdout.contains("Read notes"), "{}", text.stdout);

    let d = db.json(&["scope", "delete", "admin"]);
    assert_eq!(d, serde_json::json!({"name": "admin", "deleted": true}));
    assert!(db.fails(&["scope", "delete", "admin"]).contains("no scope"));
    assert_eq!(names(&db.json(&["scope", "list"]), "name"), ["notes:read"]);
}

// ---------------------------------------------------------------------------------------------
// token

/// A running `portcullis serve` on an ephemeral port, killed on drop.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(db: &Db) -> Self {
        let mut child = db
            .command(&["serve", "--listen", "127.0.0.1:0"])
            .env("PORTCULLIS_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("portcullis listening on ")
            .unwrap_or_else(|| panic!("{line:?}"))
            .to_owned();
        std::thread::spawn(move || {
            let _ = out.read_to_string(&mut String::new());
        });
        Server { child, base }
    }

    /// A token request with client_secret_post credentials.
    fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let body: String = form
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect::<Vec<_>>()
                .join("&");
            let res = reqwest::Client::new()
                .post(format!("{}/token", self.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json().await.unwrap())
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn token_list_and_revoke_by_client_and_user() {
    let db = Db::new();
    // Scopes named on the client are registered, so the token request for them works at once;
    // an imported secret (Argon2id) authenticates.
    let svc = db.client(&[
        "--name",
        "billing",
        "--grant-type",
        "client_credentials",
        "--scope",
        "invoices:read",
        "--auth-method",
        "client_secret_post",
        "--id",
        "billing",
        "--secret",
        "imported secret",
    ]);
    let app = db.client(&[
        "--name",
        "app",
        "--grant-type",
        "password",
        "--grant-type",
        "refresh_token",
        "--auth-method",
        "client_secret_post",
        "--scope",
        "notes",
    ]);
    let (app_id, app_secret) = (id_of(&app), app["client_secret"].as_str().unwrap().to_owned());
    let alice = db.user("alice", "alice-pw", &[]);
    let alice_id = alice["id"].as_str().unwrap().to_owned();

    let server = Server::start(&db);
    let (st, body) = server.token(&[
        ("grant_type", "client_credentials"),
        ("scope", "invoices:read"),
        ("client_id", "billing"),
        ("client_secret", "imported secret"),
    ]);
    assert_eq!(st, 200, "{body}");
    let svc_token = body["access_token"].as_str().unwrap().to_owned();
    let (st, body) = server.token(&[
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "alice-pw"),
        ("scope", "notes"),
        ("client_id", &app_id),
        ("client_secret", &app_secret),
    ]);
    assert_eq!(st, 200, "{body}");
    let user_tokens = [
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    ];

    let all = db.json(&["token", "list"]);
    assert_eq!(all.as_array().unwrap().len(), 3, "{all}");
    let text = db.run(&["token", "list"], None);
    for out in [all.to_string(), text.stdout.clone()] {
        for t in user_tokens.iter().chain([&svc_token]) {
            assert!(!out.contains(t.as_str()), "a token was printed");
        }
    }
    assert!(text.stdout.contains("alice"), "{}", text.stdout);

    let by_client = db.json(&["token", "list", "--client", "billing"]);
    assert_eq!(by_client.as_array().unwrap().len(), 1);
    let t = &by_client[0];
    assert_eq!(
        (t["kind"].as_str(), t["client_id"].as_str(), t["scope"].as_str()),
        (Some("access_token"), Some("billing"), Some("invoices:read"))
    );
    assert!(t["subject"].is_null());
    assert_eq!(t["hash_prefix"].as_str().map(str::len), Some(12));
    assert!(t["expires_at"].as_i64() > t["issued_at"].as_i64());
    assert_eq!(svc["client_id"], "billing");

    let by_user = db.json(&["token", "list", "--user", "alice"]);
    let mut kinds: Vec<&str> =
        by_user.as_array().unwrap().iter().map(|t| t["kind"].as_str().unwrap()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["access_token", "refresh_token"]);
    assert!(by_user.as_array().unwrap().iter().all(|t| t["subject"] == alice_id.as_str()));
    assert_eq!(db.json(&["token", "list", "--user", &alice_id]), by_user);
    assert_eq!(db.json(&["token", "list", "--user", "alice", "--client", "billing"]), serde_json::json!([]));

    assert!(db.fails(&["token", "revoke"]).contains("--client"));
    assert!(db.fails(&["token", "revoke", "--client", "nope"]).contains("no client"));
    assert!(db.fails(&["token", "list", "--user", "nobody"]).contains("no user"));

    assert_eq!(db.json(&["token", "revoke", "--user", "alice"]), serde_json::json!({"revoked": 2}));
    assert_eq!(db.json(&["token", "list", "--user", "alice"]), serde_json::json!([]));
    // The running server sees it at once: the revoked refresh token no longer works.
    let (st, body) = server.token(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &user_tokens[1]),
        ("client_id", &app_id),
        ("client_secret", &app_secret),
    ]);
    assert_eq!((st, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");

    assert_eq!(db.json(&["token", "revoke", "--client", "billing"]), serde_json::json!({"revoked": 1}));
    assert_eq!(db.json(&["token", "list"]), serde_json::json!([]));
    let text = db.run(&["token", "revoke", "--client", "billing"], None);
    assert_eq!((text.code, text.stdout.trim()), (0, "revoked 0 tokens"));
}
