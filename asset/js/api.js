// HTTP API client: the signed-in user, fetch, and the {"code": ...} envelope of PROTOCOL.md.
//
// The token lives only in the HttpOnly `chatd_token` cookie the server sets at login: no
// script can read it (an injected one included), so the page never stores or sends it.
// Cookie-authenticated POSTs carry the `_xsrf` cookie's value in X-XSRFToken (Tornado's
// CSRF check); another site can neither read that cookie nor set the header.

export const USER_KEY = 'chatd_user';

export const session = {
  /** The signed-in user's public profile (no token), as last saved; null if none. */
  get user() {
    try {
      return JSON.parse(localStorage.getItem(USER_KEY) || 'null');
    } catch {
      return null; // a damaged entry means "not signed in", not a crash
    }
  },
  /** Keeps the public profile from a register/login/me answer; its token is dropped. */
  save({ token: _token, ...user }) {
    localStorage.setItem(USER_KEY, JSON.stringify(user));
  },
  clear() {
    localStorage.removeItem(USER_KEY);
  },
};

/** The `_xsrf` cookie the pages set; sent back as X-XSRFToken on every POST. */
export function xsrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
  return match ? decodeURIComponent(match[1]) : '';
}

/** An API failure: `message` is the server's msg, `status` the HTTP status (0: no answer). */
export class ApiError extends Error {
  constructor(message, status, code = -1) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

let onUnauthorized = null;

/** Called when an authenticated request gets 401: the session is over. */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/**
 * POSTs `body` as JSON and returns the envelope ({data} or {rows, total}).
 * `auth: false` (register/login): a 401 there is a wrong password, not an ended session.
 * Throws ApiError.
 */
export async function request(path, body = {}, { auth = true } = {}) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json', 'X-XSRFToken': xsrfToken() };

  let res;
  try {
    res = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body), credentials: 'same-origin' });
  } catch {
    throw new ApiError('Cannot reach the server. Check your connection and try again.', 0);
  }
  let env = null;
  try {
    env = await res.json();
  } catch {
    // Not JSON: a proxy's error page or a crash; fall through to a generic message.
  }
  if (!res.ok || !env || env.code !== 0) {
    if (res.status === 401 && auth && onUnauthorized) onUnauthorized();
    const msg = env && env.msg ? env.msg : `Server error (HTTP ${res.status})`;
    throw new ApiError(msg, res.status, env ? env.code : -1);
  }
  return env;
}

/** POST returning the envelope's `data` object. */
export async function postData(path, body, opts) {
  return (await request(path, body, opts)).data;
}

/** POST returning the envelope's `rows` list. */
export async function postRows(path, body, opts) {
  return (await request(path, body, opts)).rows ?? [];
}

/**
 * The `next` query parameter as a URL on this site, if it is one, else `fallback`.
 * Why: anything else turns login into an open redirect. Checking the text is not enough
 * (`/%09/evil` passes a "starts with one slash" test, then the URL parser drops the tab
 * and it means `//evil`), so let the browser's own parser resolve it and compare origins.
 */
export function nextPath(fallback = '/chat.html') {
  const next = new URLSearchParams(location.search).get('next');
  if (!next || !next.startsWith('/')) return fallback;
  let url;
  try {
    url = new URL(next, location.origin);
  } catch {
    return fallback;
  }
  if (url.origin !== location.origin) return fallback;
  // The full URL, not its path: a path like `//evil` (from `/.//evil`) would leave the site.
  return url.href;
}
