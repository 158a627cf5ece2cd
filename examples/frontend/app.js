// The demo page's logic: what a product's frontend does with the backend and Cello.
//  1. A referral link lands with ?ucc=...: keep the code in the `cello-referral` cookie
//     (what Cello's attribution script does on a real landing page).
//  2. The person signs in (here: a local stand-in for the identity provider).
//  3. Once, right after the account exists: POST /signup with the names (and the ucc, or let
//     the API read the cookie).
//  4. On every login: POST /cello/token, then cello.boot(...) exactly as Cello's docs show,
//     and a fresh token through window.Cello("updateToken", ...) when Cello asks for one.
//  5. The pricing card: GET /checkout/discount shows the new-user discount the backend decided;
//     Subscribe calls POST /checkout and follows the Checkout Session's URL to Stripe's page.
//  6. GET /credits: the credits Cello's rewards granted the person, newest first, paged.
// Every API error is shown to the person with its code, message and request id.
(function () {
  'use strict';

  // Cello's sandbox widget script; the production one is https://assets.cello.so/app/v2/latest/cello.js.
  const CELLO_SANDBOX_SCRIPT = 'https://assets.sandbox.cello.so/app/v2/latest/cello.js';
  const config = Object.assign(
    { celloScriptUrl: CELLO_SANDBOX_SCRIPT, localTokenUrl: '/local/token' },
    window.APP_CONFIG || {},
  );

  const REFERRAL_COOKIE = 'cello-referral';
  const PRODUCT_COOKIE = 'cello-productId';
  const COOKIE_MAX_AGE_SECONDS = 90 * 24 * 3600; // about 3 months, like Cello's attribution
  // What may go into a cookie unescaped. The API decides what is a valid code.
  const SAFE_CODE = /^[A-Za-z0-9_-]{1,64}$/;
  // A call that hangs becomes an error the person sees, not a spinner forever.
  const CALL_TIMEOUT_MS = 30_000;

  const $ = (id) => document.getElementById(id);
  const form = $('signin');
  let session = null; // {sub, token}: the signed-in person's identity token
  let celloLoaded = false;
  let celloBooted = false;

  // ---- what the person sees -------------------------------------------------------------

  function step(text, kind = 'ok') {
    const list = $('steps');
    list.querySelector('.idle')?.remove();
    const li = document.createElement('li');
    li.className = kind;
    li.textContent = text; // never innerHTML: API values are data, not markup
    list.append(li);
    return li;
  }

  function showError(err) {
    const box = $('error');
    const parts = [err.message || String(err)];
    if (err.code) parts.unshift(`[${err.code}]`);
    if (err.status) parts.unshift(`HTTP ${err.status}`);
    if (err.retryAfter) parts.push(`Try again in ${err.retryAfter} s.`);
    if (err.requestId) parts.push(`(request id ${err.requestId})`);
    box.textContent = parts.join(' ');
    box.hidden = false;
    step(box.textContent, 'err');
  }

  function clearError() {
    $('error').hidden = true;
    $('error').textContent = '';
  }

  // ---- 1. the referral code from the landing link ---------------------------------------

  function readCookie(name) {
    for (const pair of document.cookie.split(';')) {
      const [key, ...rest] = pair.trim().split('=');
      if (key === name) return rest.join('=');
    }
    return null;
  }

  function keepInCookie(name, value) {
    document.cookie =
      `${name}=${value}; Max-Age=${COOKIE_MAX_AGE_SECONDS}; Path=/; SameSite=Lax`;
  }

  function captureReferral() {
    const params = new URLSearchParams(location.search);
    const ucc = params.get('ucc');
    if (ucc !== null) {
      if (SAFE_CODE.test(ucc)) keepInCookie(REFERRAL_COOKIE, ucc);
      else showError({ code: 'invalid_ucc', message: 'The referral link carries a code this page cannot keep.' });
    }
    const productId = params.get('productId');
    if (productId !== null && SAFE_CODE.test(productId)) keepInCookie(PRODUCT_COOKIE, productId);
    $('ucc').textContent = readCookie(REFERRAL_COOKIE) || 'none';
  }

  // ---- calls -----------------------------------------------------------------------------

  class ApiFailure extends Error {
    constructor({ code, message, requestId }, status, retryAfter) {
      super(message);
      Object.assign(this, { code, requestId, status, retryAfter });
    }
  }

  async function postJson(url, body, token) {
    return callJson('POST', url, body, token);
  }

  async function getJson(url, token) {
    return callJson('GET', url, undefined, token);
  }

  async function callJson(method, url, body, token) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = `Bearer ${token}`;
    let resp;
    try {
      resp = await fetch(url, {
        method,
        mode: 'cors',
        // Sends the cookies of the API's site: the `cello-referral` fallback when the API
        // shares the page's site. The API must answer with Access-Control-Allow-Credentials.
        credentials: 'include',
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
    } catch (e) {
      if (e && e.name === 'TimeoutError') {
        throw new ApiFailure({
          code: 'timeout',
          message: `${new URL(url, location.href).origin} did not answer within ${CALL_TIMEOUT_MS / 1000} s.`,
        });
      }
      // A CORS refusal and an unreachable server look the same to a page, on purpose.
      throw new ApiFailure({
        code: 'network_or_cors',
        message: `The browser could not call ${new URL(url, location.href).origin}: either it is ` +
          `not running, or its CORS policy does not allow this page's origin (${location.origin}).`,
      });
    }
    let data = null;
    try { data = await resp.json(); } catch (e) { /* not JSON: reported below */ }
    if (!resp.ok) {
      const error = (data && data.error) || { code: `http_${resp.status}`, message: resp.statusText || 'request failed' };
      throw new ApiFailure(error, resp.status, resp.headers.get('Retry-After'));
    }
    return { status: resp.status, data };
  }

  // ---- 2. sign in (local stand-in for the identity provider) ------------------------------

  async function signIn(values) {
    const { data } = await postJson(config.localTokenUrl, {
      sub: values.sub, email: values.email, emailVerified: values.emailVerified,
      givenName: values.firstName, familyName: values.lastName,
    });
    // Another person on this page: Cello's widget for the previous one goes first.
    if (celloBooted && window.Cello) {
      await window.Cello('shutdown');
      celloBooted = false;
      step('Cello widget shut down for the previous person');
    }
    session = { sub: data.sub, token: data.token };
    $('who').textContent = `Signed in as ${values.email} (${data.sub})`;
    step(`Signed in as ${data.sub} with a local development token`);
  }

  // ---- 3. signup, once ---------------------------------------------------------------------

  async function signUp(values) {
    const body = { firstName: values.firstName, lastName: values.lastName, language: values.language };
    if (values.organizationId) body.organizationId = values.organizationId;
    const ucc = readCookie(REFERRAL_COOKIE);
    // Sending the code in the body works whatever domain the API is on; the cookie reaches the
    // API only when it shares the page's site.
    if (values.uccInBody && ucc) body.ucc = ucc;
    const { status, data } = await postJson(config.signupUrl, body, session.token);
    const user = (data && data.user) || data || {};
    const how = body.ucc ? 'in the body' : ucc ? 'from the cookie' : 'none';
    step(`POST /signup → ${status} ${status === 201 ? 'signed up' : 'already signed up'}: ` +
      `referral code ${user.ucc || 'none'} (${how}), Stripe customer ${user.stripeCustomerId || 'pending'}`);
  }

  // ---- 4. the Cello widget -----------------------------------------------------------------

  async function celloToken(language) {
    const { data } = await postJson(config.celloTokenUrl, language ? { language } : {}, session.token);
    return data;
  }

  function loadCelloScript() {
    if (celloLoaded) return;
    celloLoaded = true;
    const script = document.createElement('script');
    script.type = 'module';
    script.async = true;
    script.src = config.celloScriptUrl;
    script.onerror = () => showError({ code: 'cello_script', message: `Cello's script did not load from ${config.celloScriptUrl}.` });
    document.head.append(script);
  }

  // Cello asks for a new token shortly before the old one expires (products with 24 h expiry).
  async function refreshCelloToken() {
    try {
      const fresh = await celloToken();
      window.Cello('updateToken', fresh.token);
      step('Cello asked for a new token: POST /cello/token → updateToken');
    } catch (e) {
      showError(e);
    }
  }

  async function bootCello(language) {
    const options = await celloToken(language);
    step(`POST /cello/token → productId ${options.productId}, ` +
      `token expires ${options.expiresAt ? new Date(options.expiresAt * 1000).toISOString() : 'never'}`);
    window.cello = window.cello || { cmd: [] };
    window.cello.cmd.push(async function (cello) {
      try {
        await cello.boot({
          productId: options.productId,
          token: options.token,
          language: options.language,
          productUserDetails: options.productUserDetails,
          onTokenExpiring: refreshCelloToken,
          onTokenExpired: refreshCelloToken,
        });
        celloBooted = true;
        step(`Cello widget booted for ${options.productUserDetails.fullName || session.sub}`);
      } catch (e) {
        showError({ code: 'cello_boot', message: `cello.boot failed: ${e && e.message ? e.message : e}` });
      }
    });
    loadCelloScript();
  }

  // ---- 5. subscribe, with the discount decided by the backend --------------------------------

  const REASONS = {
    referred_new_user: 'your referral discount',
    cello_reward: 'your referral discount, confirmed by Cello',
    cello_unreachable_fallback: 'your referral discount',
    no_referral: 'nobody referred you',
    already_subscribed: 'you have subscribed before',
    not_eligible_at_cello: 'Cello says this referral earns no discount',
    no_coupon_for_reward: 'no coupon is configured for your referral reward',
    cello_unreachable: 'the referral discount could not be confirmed',
  };

  function describeOffer({ discount, reason }) {
    const why = REASONS[reason] || reason;
    return discount
      ? `${discount.percentOff}% off for ${discount.months} month${discount.months === 1 ? '' : 's'} (${why})`
      : `No new-user discount (${why})`;
  }

  async function showOffer() {
    const button = $('subscribe');
    try {
      const { data } = await getJson(config.checkoutDiscountUrl, session.token);
      $('offer').textContent = describeOffer(data);
      button.disabled = false;
      step(`GET /checkout/discount → ${data.discount ? data.discount.coupon : 'no discount'} (${data.reason})`);
    } catch (e) {
      button.disabled = true;
      if (e.code === 'not_signed_up' || e.code === 'signup_incomplete') {
        $('offer').textContent = 'Sign up to subscribe.';
      } else {
        showError(e);
      }
    }
  }

  async function subscribe() {
    const button = $('subscribe');
    button.disabled = true;
    clearError();
    try {
      const { status, data } = await postJson(config.checkoutUrl, { priceId: config.priceId }, session.token);
      step(`POST /checkout → ${status} session ${data.sessionId} ` +
        `${data.discount ? `with ${data.discount.coupon}` : 'without a discount'}: opening Stripe's page`);
      location.assign(data.url);
    } catch (e) {
      showError(e);
      button.disabled = false;
    }
  }

  $('subscribe').addEventListener('click', subscribe);

  function showCheckoutReturn() {
    const params = new URLSearchParams(location.search);
    const outcome = params.get('checkout');
    if (outcome === 'success') {
      const id = params.get('session_id') || '';
      $('offer').textContent = 'Subscribed. Thank you!';
      step(`Back from Stripe's page: subscribed (session ${/^[A-Za-z0-9_]{1,200}$/.test(id) ? id : 'unknown'})`);
    } else if (outcome === 'cancel') {
      step('Back from Stripe\'s page: checkout cancelled', 'err');
    }
  }

  // ---- 6. credits ----------------------------------------------------------------------------

  let nextCursor = null;

  function ledgerLine(entry) {
    const li = document.createElement('li');
    const when = new Date(entry.creditedAt * 1000).toISOString().slice(0, 16).replace('T', ' ');
    li.textContent = `+${entry.amount} credits (reward ${entry.rewardId}, ${when} UTC)`;
    return li;
  }

  async function showCredits(more = false) {
    if (!config.creditsUrl) return;
    const url = new URL(config.creditsUrl, location.href);
    url.searchParams.set('limit', '10');
    if (more && nextCursor) url.searchParams.set('cursor', nextCursor);
    const { data } = await getJson(url.toString(), session.token);
    if (!more) $('ledger').replaceChildren();
    $('balance').textContent = String(data.balance);
    data.entries.forEach((e) => $('ledger').append(ledgerLine(e)));
    nextCursor = data.nextCursor;
    $('more-credits').hidden = !nextCursor;
    step(`GET /credits → balance ${data.balance}, ${data.entries.length} ${data.entries.length === 1 ? 'entry' : 'entries'}`);
  }

  $('more-credits').addEventListener('click', () => showCredits(true).catch(showError));

  // ---- the form ----------------------------------------------------------------------------

  function formValues() {
    const data = new FormData(form);
    const text = (name) => String(data.get(name) || '').trim();
    return {
      sub: text('sub'), email: text('email'), emailVerified: data.get('emailVerified') === 'on',
      firstName: text('firstName'), lastName: text('lastName'),
      organizationId: text('organizationId'), language: text('language'), uccInBody: data.get('uccInBody') === 'on',
    };
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const action = event.submitter ? event.submitter.value : 'signup';
    const buttons = form.querySelectorAll('button');
    buttons.forEach((b) => { b.disabled = true; });
    clearError();
    const values = formValues();
    try {
      await signIn(values);
      if (action === 'signup') await signUp(values);
      await bootCello(values.language);
      await showOffer();
      await showCredits();
    } catch (e) {
      showError(e);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });

  // A fresh person by default, so the demo runs with one click.
  const suffix = Math.random().toString(36).slice(2, 8);
  form.elements.sub.value = `user-${suffix}`;
  form.elements.email.value = `ada+${suffix}@example.com`;
  captureReferral();
  showCheckoutReturn();
})();
