// A stand-in for Cello's widget script (cello.js), for local development and the browser test.
// It offers the same entry points a page uses: the `window.cello.cmd` queue (commands pushed
// before the script loaded run when it loads; later pushes run at once), `cello.boot(options)`,
// and `window.Cello("updateToken" | "shutdown", ...)`. It does not talk to Cello: it checks the
// shape Cello documents, shows a small launcher, and records every call, both in
// `window.__celloStandin` and by POSTing it to the server it was loaded from
// (/standin/record), so a test can read what the page booted the widget with.
// It decodes the token's claims for display and shape checks; it does NOT verify the
// signature (the browser test does that with the product secret).

const recordUrl = new URL('/standin/record', import.meta.url).href;
const state = (window.__celloStandin = window.__celloStandin || { calls: [], options: null });

function claimsOf(token) {
  const part = String(token).split('.')[1] || '';
  const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
  return JSON.parse(json);
}

// What can be serialised: values as given, callbacks by kind only.
function describe(options) {
  const out = {};
  for (const [key, value] of Object.entries(options || {})) {
    out[key] = typeof value === 'function' ? 'function' : value;
  }
  return out;
}

function record(command, payload) {
  const entry = { command, payload, at: Date.now(), page: location.origin };
  state.calls.push(entry);
  // text/plain keeps this a CORS "simple" request: no preflight to the stand-in server.
  return fetch(recordUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'text/plain' },
    body: JSON.stringify(entry),
  }).catch(() => { /* the widget works without its recorder */ });
}

// Cello refuses these; the stand-in does too, with the messages integrators report.
function check(options) {
  const problems = [];
  if (!options || typeof options !== 'object') return ['boot needs an options object'];
  if (typeof options.productId !== 'string' || !options.productId) problems.push('productId must be a non-empty string');
  if (typeof options.token !== 'string' || options.token.split('.').length !== 3) problems.push('token must be a JWT');
  else {
    let claims;
    try { claims = claimsOf(options.token); } catch (e) { return ['token: claims are not JSON (1100 Invalid JWT)']; }
    if (claims.productId !== options.productId) problems.push('token productId differs from boot productId (1200 Invalid Tenant)');
    if (typeof claims.productUserId !== 'string') problems.push('User is not authorized to load the widget (productUserId must be a string)');
    if (typeof claims.iat !== 'number') problems.push('token has no iat');
  }
  const d = options.productUserDetails;
  if (d !== undefined && (typeof d !== 'object' || d === null)) problems.push('productUserDetails must be an object');
  return problems;
}

let launcher = null;

function showLauncher(options) {
  launcher?.remove();
  const claims = claimsOf(options.token);
  launcher = document.createElement('div');
  launcher.id = 'cello-standin-launcher';
  launcher.setAttribute('role', 'complementary');
  launcher.style.cssText = 'position:fixed;right:20px;bottom:20px;z-index:2147483000;font:13px/1.4 system-ui,sans-serif;' +
    'background:#111827;color:#fff;border-radius:12px;padding:12px 16px;box-shadow:0 8px 24px rgba(0,0,0,.25);max-width:300px';
  const title = document.createElement('div');
  title.style.cssText = 'font-weight:700;font-size:14px;margin-bottom:4px';
  title.textContent = 'Refer & earn';
  const who = document.createElement('div');
  who.textContent = `${options.productUserDetails?.fullName || claims.productUserId} · ${options.language || 'en'}`;
  const meta = document.createElement('div');
  meta.style.cssText = 'opacity:.7;font-size:11px;margin-top:4px';
  meta.textContent = `Cello widget stand-in · ${options.productId} · productUserId ${claims.productUserId}`;
  launcher.append(title, who, meta);
  document.body.append(launcher);
}

const api = {
  async boot(options) {
    const problems = check(options);
    await record('boot', { options: describe(options), problems });
    if (problems.length) throw new Error(problems.join('; '));
    state.options = options;
    showLauncher(options);
  },
  async updateToken(token) {
    const problems = state.options ? check({ ...state.options, token }) : ['updateToken before boot'];
    await record('updateToken', { token, problems });
    if (problems.length) throw new Error(problems.join('; '));
    state.options = { ...state.options, token };
  },
  async shutdown() {
    await record('shutdown', {});
    state.options = null;
    launcher?.remove();
    launcher = null;
  },
};

// For tests and manual checks: act as Cello does shortly before a token expires.
state.fireTokenExpiring = () => state.options?.onTokenExpiring?.();

window.Cello = (command, ...args) => {
  if (typeof api[command] !== 'function') return Promise.reject(new Error(`unknown command ${command}`));
  return api[command](...args);
};

const queued = (window.cello && Array.isArray(window.cello.cmd)) ? window.cello.cmd : [];
window.cello = { cmd: { push: (fn) => fn(api) } };
for (const fn of queued) fn(api);
