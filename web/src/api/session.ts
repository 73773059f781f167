// The signed-in session. The access token lives in this module's memory only; the refresh token is
// in an HttpOnly, SameSite=Strict cookie the gateway sets (refresh_in_cookie), which no script on
// the page (ours or an injected one) can read. A reload restores the session through that cookie.

export interface Tokens {
  access_token: string;
  expires_in: number;
}

type Listener = (signedIn: boolean) => void;

const REFRESH_MARGIN_MS = 60_000; // refresh a minute before the access token expires

let accessToken: string | null = null;
let timer: ReturnType<typeof setTimeout> | null = null;
let inflight: Promise<boolean> | null = null;
const listeners = new Set<Listener>();

export function token(): string | null {
  return accessToken;
}

export function onChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function emit(): void {
  for (const listener of listeners) listener(accessToken !== null);
}

export function accept(tokens: Tokens): void {
  accessToken = tokens.access_token;
  if (timer) clearTimeout(timer);
  const delay = Math.max(5_000, tokens.expires_in * 1000 - REFRESH_MARGIN_MS);
  timer = setTimeout(() => void refresh(), delay);
  emit();
}

export function clear(): void {
  accessToken = null;
  if (timer) clearTimeout(timer);
  timer = null;
  emit();
}

async function post(path: string, body: unknown): Promise<Response> {
  return fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify(body),
  });
}

/** One refresh at a time: concurrent callers share it (a refresh token is single use). */
export function refresh(): Promise<boolean> {
  inflight ??= (async () => {
    try {
      const resp = await post("/v1/auth/refresh", { refresh_in_cookie: true });
      if (!resp.ok) {
        clear();
        return false;
      }
      accept((await resp.json()) as Tokens);
      return true;
    } catch {
      return false;
    } finally {
      inflight = null;
    }
  })();
  return inflight;
}

export class SignInError extends Error {
  constructor(message: string, readonly status: number, readonly fields: Record<string, string[]> = {}) {
    super(message);
  }
}

export async function problem(resp: Response): Promise<SignInError> {
  let detail = `${resp.status} ${resp.statusText}`;
  let fields: Record<string, string[]> = {};
  try {
    const body = (await resp.json()) as { detail?: string; title?: string; errors?: Record<string, string[]> };
    detail = body.detail ?? body.title ?? detail;
    fields = body.errors ?? {};
  } catch {
    // not problem+json: keep the status line
  }
  return new SignInError(detail, resp.status, fields);
}

export async function signIn(email: string, password: string): Promise<void> {
  const resp = await post("/v1/auth/token", { email, password, refresh_in_cookie: true });
  if (!resp.ok) throw await problem(resp);
  accept((await resp.json()) as Tokens);
}

export async function signOut(): Promise<void> {
  try {
    await post("/v1/auth/logout", {}); // the cookie names the session; the gateway revokes it
  } finally {
    clear();
  }
}
