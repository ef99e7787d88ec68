//! End-to-end harness: the real `portcullis` binary on an ephemeral port with a real database
//! (a SQLite file, or a fresh PostgreSQL database with `PORTCULLIS_TEST_BACKEND=postgres`: see
//! `backend.rs`), driven over HTTP and through its CLI.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod backend;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;

pub use backend::Database;

pub const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

/// A running `portcullis serve`.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub db_url: String,
    /// The database; shared by servers started with [`Server::start_on`].
    pub db: Arc<Database>,
    logs: Arc<Mutex<String>>,
}

/// The outcome of a CLI run.
pub struct CliOutput {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    pub fn json(&self) -> Value {
        assert_eq!(self.status, 0, "command failed: {}", self.stderr);
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[], &[])
    }

    /// Start with extra `serve` flags and environment variables, on a fresh database.
    pub fn start_with(args: &[&str], envs: &[(&str, &str)]) -> Self {
        Self::start_on(Arc::new(Database::new()), args, envs)
    }

    /// Start on an existing database (several nodes sharing one).
    pub fn start_on(db: Arc<Database>, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let db_url = db.url.clone();
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--database-url", &db_url])
            .args(args)
            .env_remove("RUST_LOG")
            .env("PORTCULLIS_LOG", "info,portcullis_core=debug")
            .current_dir(db.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn portcullis");
        let logs = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().expect("stderr");
        let sink = logs.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read listening line");
        let base = line
            .trim()
            .strip_prefix("portcullis listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}; logs: {}", logs.lock().unwrap()))
            .to_owned();
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = stdout.read_to_string(&mut rest);
        });
        Server { child: Some(child), base, db_url, db, logs }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Run a management command against this server's database.
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        cli(&self.db_url, args, None)
    }

    /// Run a management command with standard input.
    pub fn cli_stdin(&self, args: &[&str], stdin: &str) -> CliOutput {
        cli(&self.db_url, args, Some(stdin))
    }

    /// Create a client with `--json` and return (client_id, client_secret).
    pub fn client(&self, args: &[&str]) -> (String, String) {
        let mut a = vec!["client", "create", "--json"];
        a.extend_from_slice(args);
        let v = self.cli(&a).json();
        let id = v["client_id"].as_str().expect("client_id").to_owned();
        let secret = v["client_secret"].as_str().unwrap_or("").to_owned();
        (id, secret)
    }

    /// Create a user with a password.
    pub fn user(&self, username: &str, password: &str, extra: &[&str]) -> Value {
        let mut a = vec!["user", "create", "--json", "--username", username, "--password-stdin"];
        a.extend_from_slice(extra);
        self.cli_stdin(&a, &format!("{password}\n")).json()
    }

    /// Send SIGTERM and wait; returns the exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Run the binary with `--database-url` and optional stdin.
pub fn cli(db_url: &str, args: &[&str], stdin: Option<&str>) -> CliOutput {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .args(["--database-url", db_url])
        .env_remove("RUST_LOG")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn portcullis");
    if let Some(input) = stdin {
        // A process that fails before reading its input closes the pipe: not a harness failure.
        let written = child.stdin.take().expect("stdin").write_all(input.as_bytes());
        assert!(
            written.as_ref().is_ok() || written.is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
        );
    }
    let out = child.wait_with_output().expect("wait");
    CliOutput {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An HTTP client that does not follow redirects.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// POST a form to `/token`, optionally with Basic credentials (form-urlencoded per RFC 6749
/// §2.3.1). Returns status, headers and JSON body.
pub async fn token(
    s: &Server,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let body: String = form_encode(form);
    let mut req =
        http().post(s.url("/token")).header("content-type", "application/x-www-form-urlencoded").body(body);
    if let Some((id, secret)) = basic {
        req = req.header("authorization", basic_header(id, secret));
    }
    let res = req.send().await.expect("send");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, headers, json)
}

pub fn form_encode(form: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in form.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&urlencode(k));
        out.push('=');
        out.push_str(&urlencode(v));
    }
    out
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn basic_header(id: &str, secret: &str) -> String {
    use base64::Engine;
    let raw = format!("{}:{}", urlencode(id), urlencode(secret));
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
}
