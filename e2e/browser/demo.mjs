#!/usr/bin/env node
// Run the authorization code flow with PKCE against a running Portcullis, in your own browser:
// listens on the redirect URI, prints (and tries to open) the authorization URL, and prints the
// tokens once the browser comes back. The client side is oauth4webapi.
//
//   (cd e2e/browser && npm ci)
//   node e2e/browser/demo.mjs --client-id ID [--client-secret SECRET] [--scope "notes:read"]
//        [--issuer http://127.0.0.1:8080] [--redirect-uri http://127.0.0.1:8081/callback]

import { spawn } from 'node:child_process';
import http from 'node:http';
import { parseArgs } from 'node:util';

import * as oauth from 'oauth4webapi';

const { values: opts } = parseArgs({
  options: {
    issuer: { type: 'string', default: 'http://127.0.0.1:8080' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string', default: 'http://127.0.0.1:8081/callback' },
    scope: { type: 'string' },
    'no-open': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opts.help || !opts['client-id']) {
  console.error(
    'usage: node e2e/browser/demo.mjs --client-id ID [--client-secret SECRET] [--scope SCOPES]\n' +
      '         [--issuer URL] [--redirect-uri URI] [--no-open]\n' +
      'The client must have the redirect URI registered (default http://127.0.0.1:8081/callback);\n' +
      'without --client-secret it is used as a public client.',
  );
  process.exit(opts.help ? 0 : 2);
}

const issuer = opts.issuer.replace(/\/+$/, '');
const redirectUri = new URL(opts['redirect-uri']);
const as = {
  issuer,
  authorization_endpoint: `${issuer}/authorize`,
  token_endpoint: `${issuer}/token`,
  authorization_response_iss_parameter_supported: true, // RFC 9207
};
const client = { client_id: opts['client-id'] };
const clientAuth = opts['client-secret'] ? oauth.ClientSecretBasic(opts['client-secret']) : oauth.None();
const insecure = { [oauth.allowInsecureRequests]: issuer.startsWith('http://') };

// PKCE (RFC 7636) with S256, and state against CSRF.
const codeVerifier = oauth.generateRandomCodeVerifier();
const state = oauth.generateRandomState();
const url = new URL(as.authorization_endpoint);
url.searchParams.set('response_type', 'code');
url.searchParams.set('client_id', client.client_id);
url.searchParams.set('redirect_uri', redirectUri.href);
if (opts.scope) url.searchParams.set('scope', opts.scope);
url.searchParams.set('state', state);
url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(codeVerifier));
url.searchParams.set('code_challenge_method', 'S256');

const server = http.createServer(async (req, res) => {
  const callback = new URL(req.url, redirectUri.origin);
  if (callback.pathname !== redirectUri.pathname) {
    res.writeHead(404).end();
    return;
  }
  let status = 0;
  let text;
  try {
    const params = oauth.validateAuthResponse(as, client, callback, state); // checks iss and state
    const response = await oauth.authorizationCodeGrantRequest(
      as, client, clientAuth, params, redirectUri.href, codeVerifier, insecure,
    );
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
    console.log(JSON.stringify(tokens, null, 2));
    text = 'Signed in: the tokens are printed in the terminal. You can close this tab.';
  } catch (e) {
    status = 1;
    const detail = e instanceof oauth.AuthorizationResponseError || e instanceof oauth.ResponseBodyError
      ? `${e.error}${e.error_description ? `: ${e.error_description}` : ''}`
      : e.message;
    console.error(`error: ${detail}`);
    text = `The flow failed: ${detail}`;
  }
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`${text}\n`);
  server.close();
  server.closeAllConnections?.();
  process.exitCode = status;
});

server.listen(Number(redirectUri.port || 80), redirectUri.hostname, () => {
  console.error(`Waiting for the browser at ${redirectUri.href}`);
  console.error(`Open this URL in a browser to sign in:\n\n  ${url.href}\n`);
  const opener = process.platform === 'darwin' ? 'open'
    : process.env.DISPLAY || process.env.WAYLAND_DISPLAY ? 'xdg-open' : null;
  if (!opts['no-open'] && opener) {
    const open = spawn(opener, [url.href], { stdio: 'ignore', detached: true });
    open.on('error', () => {}); // no xdg-open: the URL above is enough
    open.unref();
  }
});
