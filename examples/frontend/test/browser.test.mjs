// The demo page in a real browser (Debian's Chromium driven by playwright-core) against the
// functions served by `cargo lambda watch` and the local stand-ins. Run by
// infra/local/test.d/60-browser.sh, which serves the page and sets the environment.
//
// It fails when: CORS refuses the allowed origin or lets another one through; the
// `cello-referral` cookie does not reach POST /signup (cookie fallback); the user, the ucc or
// the single Stripe customer with Cello's metadata are not stored; or cello.boot gets other
// options than a productId, an HS512 token for the signed-in user, the language and the
// person's details.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));

function stackVar(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the browser test through infra/local/test.sh ` +
      '(or infra/local/test.d/60-browser.sh with the test stack env)');
  }
  return value;
}

const PAGE = stackVar('LOCAL_FRONTEND_URL'); // an origin in CORS_ALLOWED_ORIGINS
const OTHER_ORIGIN = `http://127.0.0.1:${stackVar('LOCAL_BROWSER_STANDIN_PORT')}`; // not in it
const STRIPE = stackVar('STRIPE_API_BASE');
const STRIPE_KEY = process.env.LOCAL_STRIPE_KEY || 'sk_test_local_stand_in';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const STEP_TIMEOUT_MS = 30_000;

assert.ok(!stackVar('CORS_ALLOWED_ORIGINS').split(',').includes(OTHER_ORIGIN),
  `${OTHER_ORIGIN} must not be an allowed origin for the refused-origin case`);

// ---- the stand-ins, read the way the functions' own AWS APIs and Stripe's API see them -------

function stack(...args) {
  const out = execFileSync(process.env.STACK_PYTHON || 'python3', [join(HERE, 'stack.py'), ...args], {
    encoding: 'utf8',
  });
  return JSON.parse(out);
}

async function stripeCustomers(email) {
  const resp = await fetch(`${STRIPE}/v1/customers?email=${encodeURIComponent(email)}&limit=10`, {
    headers: { Authorization: `Bearer ${STRIPE_KEY}` },
  });
  assert.equal(resp.status, 200, `Stripe stand-in answered ${resp.status}`);
  return (await resp.json()).data;
}

async function standinCalls(command, productUserId) {
  const resp = await fetch(`${OTHER_ORIGIN}/standin/records`);
  const { records } = await resp.json();
  return records.filter((r) => r.command === command &&
    (!productUserId || claimsOf(r.payload.options?.token ?? r.payload.token).productUserId === productUserId));
}

// What the signup function's preflight answer allows for `origin` (fetch from Node: no CORS).
async function allowedOrigin(origin) {
  const resp = await fetch(`${stackVar('LOCAL_WATCH_URL')}/lambda-url/signup/`, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization,content-type' },
  });
  assert.ok(resp.status < 300, `preflight answered ${resp.status}`);
  return resp.headers.get('access-control-allow-origin');
}

// ---- the widget token: verified independently, algorithm pinned (never read from the header) --

function claimsOf(token) {
  return JSON.parse(Buffer.from(String(token).split('.')[1] ?? '', 'base64url').toString('utf8'));
}

function verifyHs512(token, secret) {
  const [header, payload, signature] = String(token).split('.');
  assert.ok(header && payload && signature, 'the widget token is not a JWT');
  const expected = createHmac('sha512', secret).update(`${header}.${payload}`).digest();
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new Error('the widget token does not verify as HS512 with the product secret');
  }
  assert.equal(JSON.parse(Buffer.from(header, 'base64url').toString('utf8')).alg, 'HS512');
  return claimsOf(token);
}

// ---- the browser -------------------------------------------------------------------------

let context;
let profileDir;
let secret;

before(async () => {
  secret = stack('secret');
  profileDir = mkdtempSync(join(tmpdir(), 'frontend-chromium-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1000, height: 1020 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await context?.close();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
});

beforeEach(async () => {
  await context.clearCookies();
});

function fresh() {
  const id = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const ucc = Array.from(randomBytes(11), (b) => alphabet[b % alphabet.length]).join('');
  return { sub: `browser-${id}`, email: `browser-${id}@example.com`, org: `org-${id}`, ucc };
}

async function openPage(url) {
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  await page.goto(url);
  return { page, consoleErrors };
}

async function fillSignin(page, who, { firstName, lastName, language, uccInBody, emailVerified = true }) {
  await page.fill('input[name=sub]', who.sub);
  await page.fill('input[name=email]', who.email);
  await page.setChecked('input[name=emailVerified]', emailVerified);
  await page.fill('input[name=firstName]', firstName);
  await page.fill('input[name=lastName]', lastName);
  await page.fill('input[name=organizationId]', who.org);
  await page.selectOption('select[name=language]', language);
  await page.setChecked('input[name=uccInBody]', uccInBody);
}

// Waits until the page reports `text` as a done step, or shows an error (then fails with it).
async function expectStep(page, text) {
  await page.waitForFunction((t) => !document.getElementById('error').hidden ||
    [...document.querySelectorAll('#steps li.ok')].some((li) => li.textContent.includes(t)),
  text, { timeout: STEP_TIMEOUT_MS });
  const error = page.locator('#error');
  if (await error.isVisible()) assert.fail(`the page shows an error instead of "${text}": ${await error.textContent()}`);
}

function signupRequests(page) {
  const seen = [];
  page.on('request', (req) => {
    if (req.method() === 'POST' && req.url().includes('/lambda-url/signup')) seen.push(req);
  });
  return seen;
}

// The stand-in was booted once for `who`, from the page's origin, with exactly the options
// Cello documents and a token that verifies with the product secret. Returns its claims.
async function expectBoot(page, who, { language, details }) {
  assert.equal(secret.celloProductId, 'p_local_dev');
  const boots = await standinCalls('boot', who.sub);
  assert.equal(boots.length, 1, 'the widget must be booted once');
  const { options, problems } = boots[0].payload;
  assert.deepEqual(problems, []);
  assert.equal(boots[0].origin, PAGE);
  assert.deepEqual(Object.keys(options).sort(),
    ['language', 'onTokenExpired', 'onTokenExpiring', 'productId', 'productUserDetails', 'token']);
  assert.equal(options.productId, secret.celloProductId);
  assert.equal(options.language, language);
  assert.equal(options.onTokenExpiring, 'function');
  assert.deepEqual(options.productUserDetails, details);
  const claims = verifyHs512(options.token, secret.celloProductSecret);
  assert.deepEqual(Object.keys(claims).sort(), ['iat', 'productId', 'productUserId']);
  assert.equal(claims.productId, secret.celloProductId);
  assert.equal(claims.productUserId, who.sub);
  assert.equal(typeof claims.productUserId, 'string');
  assert.ok(Math.abs(claims.iat - Date.now() / 1000) < 120, `iat ${claims.iat} is not now`);
  assert.throws(() => verifyHs512(options.token, 'another-secret'), /does not verify/);
  assert.equal(await page.evaluate(() => window.__celloStandin.options.token), options.token);
  await page.locator('#cello-standin-launcher').waitFor();
  return claims;
}

test('a referred visitor signs up through the cookie fallback and boots the widget', async () => {
  const who = fresh();
  const { page, consoleErrors } = await openPage(`${PAGE}/?ucc=${who.ucc}&productId=p_local_dev`);

  // The landing link's code is kept as Cello's attribution script keeps it.
  assert.equal(await page.textContent('#ucc'), who.ucc);
  const cookie = (await context.cookies(PAGE)).find((c) => c.name === 'cello-referral');
  assert.ok(cookie, 'no cello-referral cookie after the landing link');
  assert.equal(cookie.value, who.ucc);
  assert.equal(cookie.path, '/');
  assert.equal(cookie.sameSite, 'Lax');
  const days = (cookie.expires - Date.now() / 1000) / 86400;
  assert.ok(days > 85 && days < 95, `the cookie lives ${days.toFixed(1)} days, not about 3 months`);

  // Sign up without the code in the body: the API must read it from the cookie.
  const signups = signupRequests(page);
  await fillSignin(page, who, { firstName: 'Grace', lastName: 'Hopper', language: 'de', uccInBody: false });
  await page.click('#signup');
  await expectStep(page, 'Cello widget booted');
  assert.equal(signups.length, 1, 'the page must call POST /signup exactly once');
  const sent = signups[0].postDataJSON();
  assert.deepEqual(sent, { firstName: 'Grace', lastName: 'Hopper', language: 'de', organizationId: who.org });
  const headers = await signups[0].allHeaders();
  assert.match(headers.cookie ?? '', new RegExp(`(^|; )cello-referral=${who.ucc}(;|$)`),
    'the cello-referral cookie did not go with the cross-origin signup call');
  const signupResponse = await signups[0].response();
  assert.equal(signupResponse.status(), 201);
  assert.equal(signupResponse.headers()['access-control-allow-origin'], PAGE);
  assert.equal(signupResponse.headers()['access-control-allow-credentials'], 'true');

  // Stored: the user, with the code and where it came from, and its Stripe customer.
  const user = stack('user', who.sub);
  assert.ok(user, `no user item for ${who.sub}`);
  assert.equal(user.userId, who.sub);
  assert.equal(user.email, who.email);
  assert.equal(user.firstName, 'Grace');
  assert.equal(user.lastName, 'Hopper');
  assert.equal(user.organizationId, who.org);
  assert.equal(user.ucc, who.ucc);
  assert.equal(user.uccSource, 'cookie');
  assert.match(user.stripeCustomerId ?? '', /^cus_/);
  assert.equal(stack('email', who.email)?.userId, who.sub);

  const customers = await stripeCustomers(who.email);
  assert.equal(customers.length, 1, `expected one Stripe customer for ${who.email}`);
  assert.equal(customers[0].id, user.stripeCustomerId);
  assert.deepEqual(customers[0].metadata, {
    cello_ucc: who.ucc, new_user_id: who.sub, new_user_organization_id: who.org,
  });

  // cello.boot got exactly what Cello needs, with a token only our backend could sign.
  const claims = await expectBoot(page, who, {
    language: 'de',
    details: { firstName: 'Grace', lastName: 'Hopper', fullName: 'Grace Hopper', email: who.email },
  });
  assert.equal(claims.productUserId, who.sub);

  await page.screenshot({ path: process.env.SCREENSHOT_PATH || join(tmpdir(), 'frontend-demo.png'), fullPage: true });

  // Cello asks for a new token: the page fetches one and hands it over with updateToken.
  await page.evaluate(() => window.__celloStandin.fireTokenExpiring());
  await expectStep(page, 'updateToken');
  const updates = await standinCalls('updateToken', who.sub);
  assert.equal(updates.length, 1);
  assert.deepEqual(updates[0].payload.problems, []);
  assert.equal(verifyHs512(updates[0].payload.token, secret.celloProductSecret).productUserId, who.sub);

  // Signing up again is harmless: 200, the same user, still one customer.
  await page.click('#signup');
  await expectStep(page, '200 already signed up');
  assert.equal(signups.length, 2);
  assert.equal((await signups[1].response()).status(), 200);
  assert.equal((await stripeCustomers(who.email)).length, 1);
  assert.deepEqual(consoleErrors, []);
  await page.close();
});

test('logging in without signing up boots the widget with the identity\'s details', async () => {
  const who = fresh();
  const { page, consoleErrors } = await openPage(`${PAGE}/?ucc=${who.ucc}`);
  const signups = signupRequests(page);
  const tokenCalls = [];
  page.on('request', (req) => req.url().includes('/lambda-url/cello-token') && tokenCalls.push(req));
  await fillSignin(page, who, { firstName: 'Katherine', lastName: 'Johnson', language: 'fr', uccInBody: true });
  await page.click('#login');
  await expectStep(page, 'Cello widget booted');
  assert.equal(signups.length, 0, 'logging in must not call POST /signup');
  // The page's cookie goes with its credentialed calls to the API on another port of 127.0.0.1.
  const posts = tokenCalls.filter((req) => req.method() === 'POST');
  assert.equal(posts.length, 1);
  assert.match((await posts[0].allHeaders()).cookie ?? '', new RegExp(`cello-referral=${who.ucc}`));
  await expectBoot(page, who, {
    language: 'fr',
    details: { firstName: 'Katherine', lastName: 'Johnson', fullName: 'Katherine Johnson', email: who.email },
  });
  assert.equal(stack('user', who.sub), null);
  assert.deepEqual(consoleErrors, []);
  await page.close();
});

test('the code sent in the signup body is stored as coming from the body', async () => {
  const who = fresh();
  const { page } = await openPage(`${PAGE}/?ucc=${who.ucc}`);
  const signups = signupRequests(page);
  await fillSignin(page, who, { firstName: 'Ada', lastName: 'Lovelace', language: 'en', uccInBody: true });
  await page.click('#signup');
  await expectStep(page, 'Cello widget booted');
  assert.equal(signups[0].postDataJSON().ucc, who.ucc);
  const user = stack('user', who.sub);
  assert.equal(user?.ucc, who.ucc);
  assert.equal(user.uccSource, 'body');
  const [customer, ...more] = await stripeCustomers(who.email);
  assert.equal(more.length, 0);
  assert.equal(customer.metadata.cello_ucc, who.ucc);
  assert.equal(customer.metadata.new_user_id, who.sub);
  await page.close();
});

test('a backend error is shown to the person: another user\'s email gives 409', async () => {
  const first = fresh();
  const { page } = await openPage(`${PAGE}/`);
  await fillSignin(page, first, { firstName: 'Ada', lastName: 'Lovelace', language: 'en', uccInBody: true });
  await page.click('#signup');
  await expectStep(page, 'Cello widget booted');

  const second = { ...fresh(), email: first.email.toUpperCase() };
  await fillSignin(page, second, { firstName: 'Mallory', lastName: 'Copy', language: 'en', uccInBody: true });
  await page.click('#signup');
  const error = page.locator('#error');
  await error.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
  const text = await error.textContent();
  assert.match(text, /^HTTP 409 \[email_taken\] .+\(request id [0-9a-f-]{36}\)$/);
  assert.equal(stack('user', second.sub), null);
  assert.equal((await standinCalls('boot', second.sub)).length, 0, 'no widget for a refused signup');
  assert.equal(await page.locator('#cello-standin-launcher').count(), 0, 'the first person\'s widget must be shut down');
  await page.close();
});

test('an email the identity provider never verified is refused with 403, and its owner signs up after', async () => {
  const owner = fresh();
  const squatter = { ...fresh(), email: owner.email };
  const { page } = await openPage(`${PAGE}/`);
  await fillSignin(page, squatter, { firstName: 'Mallory', lastName: 'Squat', language: 'en', uccInBody: true, emailVerified: false });
  await page.click('#signup');
  const error = page.locator('#error');
  await error.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
  assert.match(await error.textContent(), /^HTTP 403 \[email_not_verified\] .+\(request id [0-9a-f-]{36}\)$/);
  assert.equal(stack('user', squatter.sub), null, 'nothing stored for an unproven email');
  assert.equal((await stripeCustomers(owner.email)).length, 0, 'no customer carries the address');

  await fillSignin(page, owner, { firstName: 'Ada', lastName: 'Lovelace', language: 'en', uccInBody: true });
  await page.click('#signup');
  await expectStep(page, 'Cello widget booted');
  assert.equal(stack('user', owner.sub)?.email, owner.email);
  assert.equal((await stripeCustomers(owner.email)).length, 1);
  await page.close();
});

test('a page on an origin CORS does not allow is refused by the browser, and nothing is stored', async () => {
  const who = fresh();
  const { page } = await openPage(`${OTHER_ORIGIN}/?ucc=${who.ucc}`);
  const signups = signupRequests(page);
  await fillSignin(page, who, { firstName: 'Eve', lastName: 'Outsider', language: 'en', uccInBody: true });
  await page.click('#signup');
  await page.waitForFunction(() => !document.getElementById('error').hidden ||
    [...document.querySelectorAll('#steps li.ok')].some((li) => li.textContent.includes('POST /signup')),
  null, { timeout: STEP_TIMEOUT_MS });
  const error = page.locator('#error');
  assert.ok(await error.isVisible(), `the API accepted a call from ${OTHER_ORIGIN}: its CORS policy lets every origin in`);
  const text = await error.textContent();
  assert.match(text, /network_or_cors/);
  assert.match(text, new RegExp(`does not allow this page's origin \\(${OTHER_ORIGIN.replace(/\./g, '\\.')}\\)`));
  assert.equal(await page.locator('#steps li', { hasText: 'POST /signup' }).count(), 0);
  // The function's preflight answer names the allowed origin only, so the POST is never sent.
  assert.equal(await allowedOrigin(OTHER_ORIGIN), null);
  assert.equal(await allowedOrigin(PAGE), PAGE);
  assert.ok(signups.every((req) => req.failure()), 'the refused signup call must not succeed');
  assert.equal(stack('user', who.sub), null, 'a refused origin must not create a user');
  assert.equal((await stripeCustomers(who.email)).length, 0);
  assert.equal((await standinCalls('boot', who.sub)).length, 0);
  await page.close();
});

// Cello's API stand-in delivers a reward callback to the rewards function, as Cello would.
async function deliverReward(who, amount, eventId) {
  const resp = await fetch(`${stackVar('CELLO_API_BASE')}/_standin/rewards/deliver`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      url: `${stackVar('LOCAL_WATCH_URL')}/lambda-url/rewards/cello/rewards`,
      username: secret.celloRewardsWebhookUsername, password: secret.celloRewardsWebhookPassword,
      env: 'sandbox', eventId, productUserId: who.sub, amount, copies: 2, concurrent: false,
      retries: 0, eventType: 'new-reward',
    }),
  });
  assert.equal(resp.status, 200, `the stand-in's deliver answered ${resp.status}`);
  return resp.json();
}

test('credits Cello granted before the signup are shown once the person signs up', async () => {
  const who = fresh();
  const eventId = `evt_${who.sub.replace(/-/g, '_')}`;
  const delivered = await deliverReward(who, 700, eventId);
  assert.deepEqual(delivered.deliveries.map((d) => d.body.outcome), ['pending', 'duplicate']);
  const { page, consoleErrors } = await openPage(`${PAGE}/`);
  const creditCalls = [];
  page.on('request', (req) => req.url().includes('/lambda-url/rewards/credits') && creditCalls.push(req));
  await fillSignin(page, who, { firstName: 'Hedy', lastName: 'Lamarr', language: 'en', uccInBody: true });
  await page.click('#signup');
  await expectStep(page, 'GET /credits → balance 700, 1 entry');
  assert.equal(await page.textContent('#balance'), '700');
  const lines = await page.locator('#ledger li').allTextContents();
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^\+700 credits \(reward /);
  const response = await creditCalls[0].response();
  assert.equal(response.status(), 200);
  assert.equal(response.headers()['access-control-allow-origin'], PAGE);
  // Logging in again shows the same balance: the kept reward was credited exactly once.
  await page.click('#login');
  await expectStep(page, 'Cello widget shut down');
  await page.waitForFunction(() => [...document.querySelectorAll('#steps li.ok')]
    .filter((li) => li.textContent.startsWith('GET /credits')).length === 2, null, { timeout: STEP_TIMEOUT_MS });
  assert.equal(await page.textContent('#balance'), '700');
  assert.equal(await page.locator('#ledger li').count(), 1);
  assert.deepEqual(consoleErrors, []);
  await page.close();
});

async function stripeSessions(customer) {
  const resp = await fetch(`${STRIPE}/v1/checkout/sessions?customer=${encodeURIComponent(customer)}&limit=10`, {
    headers: { Authorization: `Bearer ${STRIPE_KEY}` },
  });
  assert.equal(resp.status, 200, `Stripe stand-in answered ${resp.status}`);
  return (await resp.json()).data;
}

// Signs `who` up on the page (the code in the body when there is one), then waits for the
// pricing card to show the backend's decision.
async function signUpAndSeeOffer(page, who) {
  await fillSignin(page, who, { firstName: 'Ada', lastName: 'Lovelace', language: 'en', uccInBody: true });
  await page.click('#signup');
  await expectStep(page, 'GET /checkout/discount');
  assert.equal(await page.isDisabled('#subscribe'), false);
}

test('a referred user sees the new-user discount, subscribes, and Stripe\'s page carries it', async () => {
  const who = fresh();
  const { page, consoleErrors } = await openPage(`${PAGE}/?ucc=${who.ucc}`);
  const discountCalls = [];
  page.on('request', (req) => req.url().includes('/checkout/discount') && discountCalls.push(req));
  await signUpAndSeeOffer(page, who);
  assert.equal(discountCalls.filter((r) => r.method() === 'GET').length, 1);
  assert.match(await page.textContent('#offer'), /^50% off for 3 months \(your referral discount/);

  await page.click('#subscribe');
  // The page follows the session's URL: the Stripe stand-in's hosted page.
  await page.waitForURL(`${STRIPE}/c/pay/**`, { timeout: STEP_TIMEOUT_MS });
  assert.match(await page.textContent('#discount'), /cello-new-user-50-3m/);
  assert.match(await page.textContent('#pay'), /Pay 14\.50 eur/);
  const user = stack('user', who.sub);
  const [s, ...more] = await stripeSessions(user.stripeCustomerId);
  assert.equal(more.length, 0, 'one click, one session');
  assert.deepEqual(s.discounts, [{ coupon: 'cello-new-user-50-3m', promotion_code: null }]);
  assert.equal(s.client_reference_id, who.sub);
  assert.deepEqual(s.metadata, { cello_ucc: who.ucc, new_user_id: who.sub, new_user_organization_id: who.org });

  // Paying returns to the configured success URL on the demo page.
  await page.click('#pay');
  await page.waitForURL(`${PAGE}/?checkout=success**`, { timeout: STEP_TIMEOUT_MS });
  await expectStep(page, 'subscribed (session cs_test_');
  assert.equal((await stripeSessions(user.stripeCustomerId))[0].status, 'complete');
  assert.deepEqual(consoleErrors, []);
  await page.close();
});

test('an unreferred user sees no discount and Stripe\'s page has none', async () => {
  const who = fresh();
  const { page, consoleErrors } = await openPage(`${PAGE}/`);
  assert.equal(await page.textContent('#ucc'), 'none');
  await signUpAndSeeOffer(page, who);
  assert.equal(await page.textContent('#offer'), 'No new-user discount (nobody referred you)');
  await page.click('#subscribe');
  await page.waitForURL(`${STRIPE}/c/pay/**`, { timeout: STEP_TIMEOUT_MS });
  assert.equal(await page.textContent('#discount'), 'No discount');
  assert.match(await page.textContent('#pay'), /Pay 29\.00 eur/);
  const user = stack('user', who.sub);
  const sessions = await stripeSessions(user.stripeCustomerId);
  assert.equal(sessions.length, 1);
  assert.deepEqual(sessions[0].discounts, []);
  assert.deepEqual(consoleErrors, []);
  await page.close();
});
