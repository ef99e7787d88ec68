// Test harness for the browser tests: a real `portcullis` binary on a fresh SQLite database,
// set up through its CLI, a local redirect receiver playing the client's redirect URI, and
// headless Chromium driven by playwright-core. It builds nothing: run.sh does.

import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, mkdir, rm, open } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import * as oauth from 'oauth4webapi';
import { chromium } from 'playwright-core';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.resolve(REPO_ROOT, process.env.PORTCULLIS_BIN || 'target/debug/portcullis');
export const ARTIFACTS = path.join(REPO_ROOT, 'target', 'browser-artifacts');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/// Flags this machine needs: no sandbox (root), no GPU, and no background connections
/// (the network is closed; Chromium's own calls home are refused or hang).
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const VIEWPORTS = {
  phone: { width: 390, height: 844 },
  desktop: { width: 1280, height: 800 },
};

/// The child environment without PORTCULLIS_* settings inherited from the caller (a stray
/// PORTCULLIS_CONFIG or PORTCULLIS_ISSUER would change what the tests see).
function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('PORTCULLIS_') && k !== 'RUST_LOG') env[k] = v;
  }
  return { ...env, ...extra };
}

/// A temp directory with a fresh database, and the CLI bound to it.
export class Portcullis {
  static async create() {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-browser-'));
    return new Portcullis(dir);
  }

  constructor(dir) {
    this.dir = dir;
    this.databaseUrl = `sqlite://${path.join(dir, 'portcullis.db')}`;
    this.server = null;
    this.url = null;
  }

  /// Run a management command with `--json`; resolves to its parsed JSON output.
  cli(args, { stdin } = {}) {
    return new Promise((resolve, reject) => {
      const child = execFile(
        BIN,
        [...args, '--json', '--database-url', this.databaseUrl],
        { env: cleanEnv(), cwd: this.dir, timeout: 60_000 },
        (err, stdout, stderr) => {
          if (err) {
            reject(new Error(`portcullis ${args.join(' ')} failed: ${err.message}\n${stderr}`));
            return;
          }
          try {
            resolve(JSON.parse(stdout));
          } catch (e) {
            reject(new Error(`portcullis ${args.join(' ')}: not JSON: ${stdout}\n${stderr}`));
          }
        },
      );
      child.stdin.end(stdin ?? '');
    });
  }

  async createUser(username, password) {
    return this.cli(['user', 'create', '--username', username, '--password-stdin'], { stdin: `${password}\n` });
  }

  async createScope(name, description, { translations = {} } = {}) {
    const args = ['scope', 'create', name, '--description', description];
    for (const [lang, text] of Object.entries(translations)) args.push('--translation', `${lang}=${text}`);
    return this.cli(args);
  }

  /// Register a client; returns the CLI's JSON (client_id, client_secret, …).
  async createClient({ name, redirectUri, scope, isPublic = false, trusted = false }) {
    const args = ['client', 'create', '--name', name, '--redirect-uri', redirectUri];
    args.push('--grant-type', 'authorization_code', '--grant-type', 'refresh_token');
    if (scope) args.push('--scope', scope);
    if (isPublic) args.push('--public');
    if (trusted) args.push('--trusted');
    return this.cli(args);
  }

  /// Start `portcullis serve` on a free loopback port; its log goes to `logFile`.
  async start(logFile) {
    await mkdir(path.dirname(logFile), { recursive: true });
    const log = await open(logFile, 'w');
    const child = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--database-url', this.databaseUrl], {
      env: cleanEnv({ RUST_LOG: 'info' }),
      cwd: this.dir,
      stdio: ['ignore', 'pipe', log.fd],
    });
    this.server = child;
    this.log = log;
    const lines = createInterface({ input: child.stdout });
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`portcullis serve did not start; see ${logFile}`)), 30_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`portcullis serve exited with ${code}; see ${logFile}`));
      });
      lines.on('line', (line) => {
        const m = /^portcullis listening on (http:\/\/\S+)$/.exec(line.trim());
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    this.url = url;
    return url;
  }

  async stop() {
    const child = this.server;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    this.server = null;
    if (this.log) await this.log.close();
    this.log = null;
    await rm(this.dir, { recursive: true, force: true });
  }
}

/// A tiny HTTP server on 127.0.0.1 playing the client's redirect URI: the browser lands on
/// a real page, and the test reads each request's full URL.
export class RedirectReceiver {
  static async start() {
    const r = new RedirectReceiver();
    await new Promise((resolve) => r.server.listen(0, '127.0.0.1', resolve));
    r.base = `http://127.0.0.1:${r.server.address().port}`;
    return r;
  }

  constructor() {
    this.received = [];
    this.waiters = [];
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url, this.base);
      if (url.pathname === '/favicon.ico') {
        res.writeHead(204).end();
        return;
      }
      if (req.method !== 'GET') {
        res.writeHead(405).end();
        return;
      }
      this.received.push(url);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end('<!doctype html><title>Test client</title><h1>Test client: response received</h1>');
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    });
  }

  /// The redirect URI for one client (each client gets its own path).
  uri(name) {
    return `${this.base}/cb/${name}`;
  }

  /// Requests that reached `uri`, in order.
  hits(uri) {
    return this.received.filter((u) => `${u.origin}${u.pathname}` === uri);
  }

  /// The first request that reached `uri`; waits up to `timeout` ms for it.
  async waitFor(uri, timeout = 15_000) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const [hit] = this.hits(uri);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no request reached ${uri} within ${timeout} ms`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async stop() {
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/// Launch headless Chromium from Debian's package with the flags this machine needs. Playwright
/// gives every launch a new empty profile directory (--user-data-dir) of its own.
export async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}

/// Save the page at phone and desktop widths: `target/browser-artifacts/<name>-{phone,desktop}.png`.
/// Returns the file paths.
export async function screenshots(page, name) {
  await mkdir(ARTIFACTS, { recursive: true });
  const original = page.viewportSize();
  const files = [];
  for (const [label, size] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(size);
    const file = path.join(ARTIFACTS, `${name}-${label}.png`);
    await page.screenshot({ path: file, fullPage: true });
    files.push(file);
  }
  if (original) await page.setViewportSize(original);
  return files;
}

/// oauth4webapi's view of the server, discovered from its RFC 8414 metadata
/// (`/.well-known/oauth-authorization-server`). The metadata says
/// `authorization_response_iss_parameter_supported: true`, so the client then requires `iss`
/// in every authorization response (RFC 9207).
export async function authorizationServer(issuer) {
  const url = new URL(issuer);
  const res = await oauth.discoveryRequest(url, { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true });
  const as = await oauth.processDiscoveryResponse(url, res);
  if (as.authorization_response_iss_parameter_supported !== true) {
    throw new Error('the metadata must announce RFC 9207 iss');
  }
  return as;
}

/// A test client: builds the authorization URL with PKCE S256 and state, validates the response
/// and redeems the code, all through oauth4webapi (and over plain http on loopback).
export class TestClient {
  constructor(as, registered, redirectUri) {
    this.as = as;
    this.client = { client_id: registered.client_id, token_endpoint_auth_method: registered.token_endpoint_auth_method };
    this.clientAuth = registered.client_secret ? oauth.ClientSecretBasic(registered.client_secret) : oauth.None();
    this.redirectUri = redirectUri;
  }

  async authorizationUrl({ scope, extra = {} } = {}) {
    this.codeVerifier = oauth.generateRandomCodeVerifier();
    this.state = oauth.generateRandomState();
    const url = new URL(this.as.authorization_endpoint);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', this.client.client_id);
    url.searchParams.set('redirect_uri', this.redirectUri);
    if (scope) url.searchParams.set('scope', scope);
    url.searchParams.set('state', this.state);
    url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(this.codeVerifier));
    url.searchParams.set('code_challenge_method', 'S256');
    for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, v);
    return url;
  }

  /// Check `iss` and `state` (throws oauth.AuthorizationResponseError for an error response).
  validate(callbackUrl) {
    return oauth.validateAuthResponse(this.as, this.client, callbackUrl, this.state);
  }

  async exchange(params) {
    const response = await oauth.authorizationCodeGrantRequest(
      this.as,
      this.client,
      this.clientAuth,
      params,
      this.redirectUri,
      this.codeVerifier,
      { [oauth.allowInsecureRequests]: true },
    );
    return oauth.processAuthorizationCodeResponse(this.as, this.client, response);
  }

  async refresh(refreshToken) {
    const response = await oauth.refreshTokenGrantRequest(this.as, this.client, this.clientAuth, refreshToken, {
      [oauth.allowInsecureRequests]: true,
    });
    return oauth.processRefreshTokenResponse(this.as, this.client, response);
  }
}

export { oauth };
