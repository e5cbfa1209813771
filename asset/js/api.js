// HTTP API client: the stored session, fetch, and the {"code": ...} envelope of PROTOCOL.md.

export const TOKEN_KEY = 'chatd_token';
const USER_KEY = 'chatd_user';

export const session = {
  get token() {
    return localStorage.getItem(TOKEN_KEY);
  },
  get user() {
    try {
      return JSON.parse(localStorage.getItem(USER_KEY) || 'null');
    } catch {
      return null; // a damaged entry means "not signed in", not a crash
    }
  },
  /** Stores the answer of register/login: the token apart, the public user as JSON. */
  save({ token, ...user }) {
    localStorage.setItem(TOKEN_KEY, token);
    localStorage.setItem(USER_KEY, JSON.stringify(user));
  },
  clear() {
    localStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(USER_KEY);
  },
};

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

/** Called when a request that carried our token gets 401: the session is over. */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/**
 * POSTs `body` as JSON and returns the envelope ({data} or {rows, total}).
 * `auth: false` leaves the token off (register/login must not fail on a stale one).
 * Throws ApiError.
 */
export async function request(path, body = {}, { auth = true } = {}) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const token = auth ? session.token : null;
  if (token) headers.Authorization = `Bearer ${token}`;

  let res;
  try {
    res = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) });
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
    if (res.status === 401 && token && onUnauthorized) onUnauthorized();
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
 * The `next` query parameter if it is a path on this site, else `fallback`.
 * Why: an absolute or protocol-relative URL would turn login into an open redirect.
 */
export function nextPath(fallback = '/chat.html') {
  const next = new URLSearchParams(location.search).get('next');
  return next && /^\/(?![/\\])/.test(next) ? next : fallback;
}
