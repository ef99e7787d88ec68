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
    /// The thread copying stderr into `logs`; it ends when the process closes stderr.
    log_reader: Option<std::thread::JoinHandle<()>>,
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
        let log_reader = std::thread::spawn(move || {
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
        Server { child: Some(child), base, db_url, db, logs, log_reader: Some(log_reader) }
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
        let code = child.wait().ok().and_then(|s| s.code());
        // Everything the process wrote is in `logs` once the reader has seen the end of it.
        if let Some(reader) = self.log_reader.take() {
            let _ = reader.join();
        }
        code
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

// ---------------------------------------------------------------------------------------------
// Browser-like helpers for the pages (issue #3): a second server on the same database, and a
// user agent that keeps cookies and does not follow redirects.

/// Start another `portcullis serve` on `other`'s database (a second node on the same SQLite
/// file or PostgreSQL database), with extra `serve` flags and environment variables.
pub fn start_on(other: &Server, args: &[&str], envs: &[(&str, &str)]) -> Server {
    Server::start_on(Arc::clone(&other.db), args, envs)
}

/// One HTTP response, read whole.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// Every `Set-Cookie` header, whole (with attributes).
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
    }

    /// The `Set-Cookie` header for cookie `name`, if the response sets it.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies().into_iter().find(|c| c.starts_with(&format!("{name}=")))
    }

    /// The value of the hidden form field `name` (`csrf`, `interaction`).
    pub fn field(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        Some(self.body.split(&marker).nth(1)?.split('"').next()?.to_owned())
    }

    pub fn is_html(&self) -> bool {
        self.header("content-type").is_some_and(|v| v.starts_with("text/html"))
    }
}

/// A user agent: keeps cookies like a browser (name → value, last one wins), never follows
/// redirects, optionally sends `Accept-Language` and connects from a given local address.
pub struct Browser {
    client: reqwest::Client,
    pub cookies: Vec<(String, String)>,
    pub accept_language: Option<String>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        Self { client: http(), cookies: Vec::new(), accept_language: None }
    }

    /// Connect from `ip` (any 127.0.0.0/8 address works on Linux): a different client address
    /// for the server's per-address login throttling.
    pub fn from_address(ip: std::net::IpAddr) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .local_address(ip)
            .build()
            .expect("client");
        Self { client, cookies: Vec::new(), accept_language: None }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(n, _)| n != name);
        self.cookies.push((name.to_owned(), value.to_owned()));
    }

    pub fn remove_cookie(&mut self, name: &str) {
        self.cookies.retain(|(n, _)| n != name);
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn send(&mut self, mut req: reqwest::RequestBuilder) -> Page {
        if !self.cookies.is_empty() {
            req = req.header("cookie", self.cookie_header());
        }
        if let Some(l) = &self.accept_language {
            req = req.header("accept-language", l);
        }
        let res = req.send().await.expect("send");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.text().await.expect("body");
        let page = Page { status, headers, body };
        for c in page.set_cookies() {
            let pair = c.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                let expired = c.to_ascii_lowercase().contains("max-age=0");
                if expired || value.is_empty() {
                    self.remove_cookie(name.trim());
                } else {
                    self.set_cookie(name.trim(), value.trim());
                }
            }
        }
        page
    }

    pub async fn get(&mut self, url: &str) -> Page {
        let req = self.client.get(url);
        self.send(req).await
    }

    /// GET with extra request headers.
    pub async fn get_with(&mut self, url: &str, headers: &[(&str, &str)]) -> Page {
        let mut req = self.client.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    /// POST an `application/x-www-form-urlencoded` form.
    pub async fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let req = self
            .client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(form));
        self.send(req).await
    }
}

/// `/authorize?…` on `s` with the pairs form-encoded.
pub fn authorize_url(s: &Server, pairs: &[(&str, &str)]) -> String {
    s.url(&format!("/authorize?{}", form_encode(pairs)))
}

/// The decoded query (or fragment) parameters of a URL.
pub fn url_params(url: &str) -> Vec<(String, String)> {
    let rest = url.split_once(['?', '#']).map_or("", |(_, r)| r);
    rest.split(['&', '#'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// The decoded value of parameter `name` in a URL's query or fragment.
pub fn url_param(url: &str, name: &str) -> Option<String> {
    url_params(url).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
