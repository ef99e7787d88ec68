// The authorization code flow in a real browser (issue 3): log in, approve or deny, trusted
// clients, a wrong password. The client side is oauth4webapi, so a response it rejects is a
// server bug (RFC 6749 §4.1, RFC 7636, RFC 9207).

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  ARTIFACTS,
  Portcullis,
  RedirectReceiver,
  TestClient,
  VIEWPORTS,
  authorizationServer,
  launchBrowser,
  oauth,
  screenshots,
} from './harness.mjs';

const USER = 'alice';
const PASSWORD = 'correct horse battery staple';
const SCOPES = {
  'notes:read': { description: 'Read your notes', translations: { de: 'Deine Notizen lesen' } },
  'notes:write': { description: 'Create, change and delete your notes', translations: { de: 'Deine Notizen anlegen, ändern und löschen' } },
};

let pc;
let receiver;
let browser;
let as;
const clients = {};

before(async () => {
  receiver = await RedirectReceiver.start();
  pc = await Portcullis.create();
  await pc.createUser(USER, PASSWORD);
  for (const [name, { description, translations }] of Object.entries(SCOPES)) {
    await pc.createScope(name, description, { translations });
  }
  const specs = {
    approve: { name: 'Notes App', scope: 'notes:read notes:write' },
    deny: { name: 'Notes Companion', scope: 'notes:read notes:write', isPublic: true },
    trusted: { name: 'Company Portal', scope: 'notes:read', trusted: true, isPublic: true },
    'wrong-password': { name: 'Notes Reader', scope: 'notes:read' },
  };
  for (const [key, spec] of Object.entries(specs)) {
    const redirectUri = receiver.uri(key);
    const registered = await pc.createClient({ ...spec, redirectUri });
    clients[key] = { ...spec, redirectUri, registered };
  }
  await pc.start(path.join(ARTIFACTS, 'server.log'));
  as = await authorizationServer(pc.url);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await pc?.stop();
  await receiver?.stop();
});

/// A new browser context (no cookies) and page that records every top-level URL it requests
/// and every console error.
async function newPage(options = {}) {
  const context = await browser.newContext({ viewport: VIEWPORTS.desktop, ...options });
  const page = await context.newPage();
  const visited = [];
  const errors = [];
  // Every top-level navigation request, redirect hops included.
  page.on('request', (req) => {
    if (req.isNavigationRequest() && req.frame() === page.mainFrame()) visited.push(new URL(req.url()));
  });
  page.on('console', (msg) => {
    // A missing /favicon.ico is the browser's own guess, not the page's fault.
    const where = msg.location().url;
    if (msg.type() === 'error' && !where.endsWith('/favicon.ico')) errors.push(`${msg.text()} (${where})`);
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  return { context, page, visited, errors };
}

function testClient(key) {
  const c = clients[key];
  return new TestClient(as, c.registered, c.redirectUri);
}

/// Every page carries these headers (issue 3, "Pages").
function assertPageHeaders(response) {
  const h = response.headers();
  assert.equal(h['x-frame-options'], 'DENY');
  assert.match(h['content-security-policy'] ?? '', /frame-ancestors 'none'/);
  assert.equal(h['referrer-policy'], 'no-referrer');
  assert.match(h['cache-control'] ?? '', /no-store/);
}

/// Open the authorization URL; the browser must land on the login page.
async function openLogin(page, url, clientName) {
  const response = await page.goto(url.href);
  assert.ok(response, 'no response for the authorization URL');
  assert.equal(new URL(page.url()).pathname, '/login', `expected the login page, got ${page.url()}`);
  assert.equal(response.status(), 200);
  assertPageHeaders(response);
  assert.match(await page.locator('main').innerText(), new RegExp(escape(clientName)));
  return response;
}

async function signIn(page, username, password) {
  await page.fill('#username', username);
  await page.fill('#password', password);
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.click('form button[type=submit]'),
  ]);
  return response;
}

/// The consent page names the client and every requested scope with its description.
async function assertConsentPage(page, clientName, expected) {
  assert.equal(new URL(page.url()).pathname, '/consent', `expected the consent page, got ${page.url()}`);
  assert.match(await page.locator('h1').innerText(), new RegExp(escape(clientName)));
  const names = await page.locator('.scopes .scope-name').allInnerTexts();
  const descriptions = await page.locator('.scopes .scope-desc').allInnerTexts();
  assert.deepEqual(names, Object.keys(expected));
  assert.deepEqual(descriptions, Object.values(expected));
  // Both buttons visible, side by side, the same size.
  const approve = await page.locator('button[value=approve]').boundingBox();
  const deny = await page.locator('button[value=deny]').boundingBox();
  assert.ok(approve && deny, 'Approve and Deny must be visible');
  assert.equal(Math.round(approve.y), Math.round(deny.y), 'Approve and Deny are not aligned');
  assert.equal(Math.round(approve.height), Math.round(deny.height), 'Approve and Deny differ in height');
}

async function decide(page, decision, redirectUri) {
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(redirectUri)),
    page.click(`button[value=${decision}]`),
  ]);
}

function escape(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

test('approve: the user signs in, approves, and the client gets tokens', async () => {
  const key = 'approve';
  const { name, redirectUri } = clients[key];
  const client = testClient(key);
  const { context, page, visited, errors } = await newPage();
  try {
    await openLogin(page, await client.authorizationUrl({ scope: 'notes:read notes:write' }), name);
    await screenshots(page, `${key}-login`);

    const consent = await signIn(page, USER, PASSWORD);
    assertPageHeaders(consent);
    await assertConsentPage(page, name, {
      'notes:read': 'Read your notes',
      'notes:write': 'Create, change and delete your notes',
    });
    await screenshots(page, `${key}-consent`);

    await decide(page, 'approve', redirectUri);
    const callback = await receiver.waitFor(redirectUri);
    const params = client.validate(callback); // checks iss (RFC 9207) and state
    assert.ok(params.get('code'));

    const tokens = await client.exchange(params);
    assert.equal(tokens.token_type, 'bearer'); // oauth4webapi lower-cases it
    assert.ok(tokens.access_token);
    assert.ok(tokens.expires_in > 0);
    assert.deepEqual(tokens.scope?.split(' ').sort(), ['notes:read', 'notes:write']);
    assert.ok(tokens.refresh_token, 'the client may use refresh_token, so one is expected');

    const refreshed = await client.refresh(tokens.refresh_token);
    assert.ok(refreshed.access_token);
    assert.notEqual(refreshed.access_token, tokens.access_token);

    // The code is single use (RFC 6749 §4.1.2).
    await assert.rejects(client.exchange(params), (e) => e instanceof oauth.ResponseBodyError && e.error === 'invalid_grant');

    // Same browser again: the session and the remembered consent skip both pages.
    const again = testClient(key);
    const before = visited.length;
    await page.goto((await again.authorizationUrl({ scope: 'notes:read' })).href);
    await page.waitForURL((u) => u.href.startsWith(redirectUri));
    const pathnames = visited.slice(before).map((u) => u.pathname);
    assert.deepEqual(pathnames, ['/authorize', new URL(redirectUri).pathname]);
    const second = receiver.hits(redirectUri)[1];
    assert.ok(second, 'the second authorization did not reach the client');
    const tokens2 = await again.exchange(again.validate(second));
    assert.equal(tokens2.scope, 'notes:read');

    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('deny: the client receives access_denied with state and iss', async () => {
  const key = 'deny';
  const { name, redirectUri } = clients[key];
  const client = testClient(key);
  // German first: the consent page picks the translated scope descriptions. Dark mode: the
  // screenshots show the dark colour scheme.
  const { context, page, errors } = await newPage({ locale: 'de-DE', colorScheme: 'dark' });
  try {
    await openLogin(page, await client.authorizationUrl({ scope: 'notes:read notes:write' }), name);
    await screenshots(page, `${key}-login`);

    await signIn(page, USER, PASSWORD);
    await assertConsentPage(page, name, {
      'notes:read': 'Deine Notizen lesen',
      'notes:write': 'Deine Notizen anlegen, ändern und löschen',
    });
    await screenshots(page, `${key}-consent`);

    await decide(page, 'deny', redirectUri);
    const callback = await receiver.waitFor(redirectUri);
    assert.equal(callback.searchParams.get('error'), 'access_denied');
    assert.equal(callback.searchParams.get('state'), client.state);
    assert.equal(callback.searchParams.get('iss'), pc.url);
    assert.equal(callback.searchParams.get('code'), null);
    // oauth4webapi accepts iss and state, then reports the error.
    assert.throws(
      () => client.validate(callback),
      (e) => e instanceof oauth.AuthorizationResponseError && e.error === 'access_denied',
    );
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('trusted: a trusted client goes straight through after login, with no consent page', async () => {
  const key = 'trusted';
  const { name, redirectUri } = clients[key];
  const client = testClient(key);
  // A phone in dark mode: the screenshots show the dark colour scheme.
  const { context, page, visited, errors } = await newPage({ viewport: VIEWPORTS.phone, colorScheme: 'dark' });
  try {
    await openLogin(page, await client.authorizationUrl({ scope: 'notes:read' }), name);
    await screenshots(page, `${key}-login`);

    await Promise.all([
      page.waitForURL((u) => u.href.startsWith(redirectUri)),
      page.fill('#username', USER).then(() => page.fill('#password', PASSWORD)).then(() => page.click('form button[type=submit]')),
    ]);
    const pathnames = visited.map((u) => u.pathname);
    // /authorize → /login, then the login form posts straight back to the client.
    assert.deepEqual(pathnames, ['/authorize', '/login', '/login', new URL(redirectUri).pathname]);

    const callback = await receiver.waitFor(redirectUri);
    const tokens = await client.exchange(client.validate(callback));
    assert.ok(tokens.access_token);
    assert.equal(tokens.scope, 'notes:read');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('wrong password: the login page shows the error and nothing is redirected', async () => {
  const key = 'wrong-password';
  const { name, redirectUri } = clients[key];
  const client = testClient(key);
  const { context, page, visited, errors } = await newPage();
  try {
    await openLogin(page, await client.authorizationUrl({ scope: 'notes:read' }), name);
    await screenshots(page, `${key}-login`);

    const response = await signIn(page, USER, 'not the password');
    assert.equal(response.status(), 200);
    assertPageHeaders(response);
    assert.equal(new URL(page.url()).pathname, '/login');
    const error = page.locator('[role=alert]');
    assert.ok(await error.isVisible(), 'no error message on the login page');
    assert.equal((await error.innerText()).trim(), 'The username or password is incorrect.');
    assert.equal(await page.inputValue('#username'), USER, 'the username should be kept');
    assert.equal(await page.inputValue('#password'), '', 'the password must not be echoed');
    await screenshots(page, `${key}-login-error`);

    // Nothing reached the client, and the browser never left the server.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(receiver.hits(redirectUri).length, 0);
    assert.ok(visited.every((u) => u.origin === pc.url), `visited ${visited.map(String)}`);

    // The same form still works with the right password.
    await signIn(page, USER, PASSWORD);
    assert.equal(new URL(page.url()).pathname, '/consent');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
