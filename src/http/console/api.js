// The console's only way to the daemon: the documented admin API, as any client uses it.
// The session is an HttpOnly cookie the page never sees; state changes carry the CSRF
// token the sign-in answered (kept for this tab only) and a JSON body.

let csrf = sessionStorage.getItem("forecourtd.csrf") || "";

/** An API answer that was not 2xx. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.type = body?.error?.type;
  }
}

async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    if (csrf) headers["X-CSRF-Token"] = csrf;
    init.body = JSON.stringify(body ?? {});
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

/** `GET path`. */
export const get = (path) => call("GET", path);

/** `POST path` with a JSON body. */
export const post = (path, body) => call("POST", path, body);

/** Signs in; remembers the CSRF token. */
export async function login(user, secret) {
  const pin = /^\d+$/.test(secret) && /^\d+$/.test(user);
  const body = pin ? { user, pin: secret } : { user, password: secret };
  const me = await post("/api/login", body);
  csrf = me.csrf_token;
  sessionStorage.setItem("forecourtd.csrf", csrf);
  return me;
}

/** Who is signed in, or `null`. Picks the CSRF token up again after a reload. */
export async function whoami() {
  try {
    const me = await get("/api/me");
    if (me.csrf_token) {
      csrf = me.csrf_token;
      sessionStorage.setItem("forecourtd.csrf", csrf);
    }
    return me;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

/** Signs out (the server forgets the session, the browser the cookie). */
export async function logout() {
  try {
    await post("/api/logout", {});
  } finally {
    csrf = "";
    sessionStorage.removeItem("forecourtd.csrf");
  }
}

/**
 * Follows `GET /api/events`. `handlers` has `positions(list)`, `alerts(list)`, `prices(book)`,
 * `connection(live: boolean)` and `ended()` (the session is gone: sign in again).
 * Returns a function that closes the stream.
 */
export function follow(handlers) {
  let source = null;
  let closed = false;
  let retry = null;
  const open = () => {
    if (closed) return;
    source = new EventSource("/api/events");
    source.onopen = () => handlers.connection(true);
    source.addEventListener("positions", (e) => handlers.positions(JSON.parse(e.data)));
    source.addEventListener("alerts", (e) => handlers.alerts(JSON.parse(e.data)));
    source.addEventListener("prices", (e) => handlers.prices?.(JSON.parse(e.data)));
    source.addEventListener("session_ended", () => {
      close();
      handlers.ended();
    });
    source.onerror = async () => {
      handlers.connection(false);
      if (source.readyState !== EventSource.CLOSED) return; // the browser retries
      // Refused outright (401 or the daemon restarting): ask who we are, then retry.
      source = null;
      try {
        if ((await whoami()) === null) {
          close();
          handlers.ended();
          return;
        }
      } catch {
        // The daemon is unreachable: keep trying.
      }
      retry = setTimeout(open, 2000);
    };
  };
  const close = () => {
    closed = true;
    clearTimeout(retry);
    source?.close();
  };
  open();
  return close;
}
