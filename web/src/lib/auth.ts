// Login with Keycloak: authorization code + PKCE (S256) with the realm's public client.
// Tokens live in sessionStorage (this tab only); the access token is refreshed a minute
// before it expires; when the refresh token is refused (the session ended or expired),
// the user goes back to the login page.

import type { AppConfig } from "./config";
import { hasRole, jwtClaims, randomString, rolesOf, s256, type Role } from "./pkce";

interface TokenSet {
  accessToken: string;
  refreshToken: string | null;
  idToken: string | null;
  expiresAt: number; // epoch ms
}

interface PendingLogin {
  verifier: string;
  state: string;
  returnTo: string;
}

interface TokenResponse {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  expires_in: number;
}

const TOKENS = "vpp.tokens";
const PENDING = "vpp.login";
const REFRESH_BEFORE_MS = 60_000;

export class SessionExpired extends Error {}

export class Auth {
  private tokens: TokenSet | null;
  private refreshing: Promise<boolean> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private listeners = new Set<() => void>();

  constructor(private readonly config: AppConfig["keycloak"]) {
    this.tokens = readJson<TokenSet>(TOKENS);
  }

  private endpoint(name: "auth" | "token" | "logout"): string {
    return `${this.config.issuer}/protocol/openid-connect/${name}`;
  }

  private get redirectUri(): string {
    return `${location.origin}/`;
  }

  get loggedIn(): boolean {
    return this.tokens !== null;
  }

  get username(): string {
    const claims = this.claims();
    return String(claims["preferred_username"] ?? claims["sub"] ?? "");
  }

  get roles(): Role[] {
    return rolesOf(this.claims());
  }

  can(role: Role): boolean {
    return hasRole(this.roles, role);
  }

  private claims(): Record<string, unknown> {
    return this.tokens ? jwtClaims(this.tokens.accessToken) : {};
  }

  /** Called after each refresh (the live socket reconnects with the new token). */
  onRefresh(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Off to Keycloak's login page; comes back to `returnTo`. */
  async login(returnTo = location.pathname + location.search): Promise<never> {
    const verifier = randomString(64);
    const state = randomString(24);
    sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, returnTo } satisfies PendingLogin));
    const params = new URLSearchParams({
      client_id: this.config.clientId,
      response_type: "code",
      redirect_uri: this.redirectUri,
      scope: "openid",
      state,
      code_challenge: await s256(verifier),
      code_challenge_method: "S256",
    });
    location.assign(`${this.endpoint("auth")}?${params}`);
    return new Promise<never>(() => undefined); // the page is leaving
  }

  /** If the URL carries Keycloak's answer, trade the code for tokens; true if it did. */
  async handleCallback(): Promise<boolean> {
    const query = new URLSearchParams(location.search);
    const state = query.get("state");
    if (!state || !(query.has("code") || query.has("error"))) return false;
    const pending = readJson<PendingLogin>(PENDING);
    sessionStorage.removeItem(PENDING);
    if (query.has("error")) {
      throw new Error(`login failed: ${query.get("error_description") ?? query.get("error")}`);
    }
    if (!pending || pending.state !== state) {
      history.replaceState(null, "", "/");
      throw new Error("login answer does not match a login started here; log in again");
    }
    await this.requestTokens({
      grant_type: "authorization_code",
      code: query.get("code") ?? "",
      redirect_uri: this.redirectUri,
      code_verifier: pending.verifier,
    });
    history.replaceState(null, "", pending.returnTo || "/");
    return true;
  }

  /** A valid access token: refreshed if it is about to expire; to login if it cannot be. */
  async token(): Promise<string> {
    if (!this.tokens) return this.login();
    if (this.tokens.expiresAt - Date.now() < REFRESH_BEFORE_MS / 2) {
      if (!(await this.refresh())) return this.expired();
    }
    return this.tokens!.accessToken;
  }

  /** The server refused the token: try a refresh once, else back to login. */
  async recover(): Promise<void> {
    if (!(await this.refresh())) await this.expired();
  }

  async expired(): Promise<never> {
    this.clear();
    return this.login();
  }

  refresh(): Promise<boolean> {
    this.refreshing ??= this.doRefresh().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    const refreshToken = this.tokens?.refreshToken;
    if (!refreshToken) return false;
    try {
      await this.requestTokens({ grant_type: "refresh_token", refresh_token: refreshToken });
    } catch (error) {
      if (error instanceof SessionExpired) return false;
      throw error; // Keycloak unreachable: keep the session, try again later
    }
    this.listeners.forEach((l) => l());
    return true;
  }

  logout(): void {
    const idToken = this.tokens?.idToken;
    this.clear();
    const params = new URLSearchParams({
      client_id: this.config.clientId,
      post_logout_redirect_uri: this.redirectUri,
    });
    if (idToken) params.set("id_token_hint", idToken);
    location.assign(`${this.endpoint("logout")}?${params}`);
  }

  private clear(): void {
    clearTimeout(this.timer);
    this.tokens = null;
    sessionStorage.removeItem(TOKENS);
  }

  private async requestTokens(form: Record<string, string>): Promise<void> {
    const response = await fetch(this.endpoint("token"), {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: this.config.clientId, ...form }),
    });
    if (response.status === 400 || response.status === 401) {
      const body = (await response.json().catch(() => ({}))) as { error_description?: string };
      throw new SessionExpired(body.error_description ?? "the session has ended");
    }
    if (!response.ok) throw new Error(`Keycloak answered HTTP ${response.status}`);
    const body = (await response.json()) as TokenResponse;
    this.tokens = {
      accessToken: body.access_token,
      refreshToken: body.refresh_token ?? this.tokens?.refreshToken ?? null,
      idToken: body.id_token ?? this.tokens?.idToken ?? null,
      expiresAt: Date.now() + body.expires_in * 1000,
    };
    sessionStorage.setItem(TOKENS, JSON.stringify(this.tokens));
    this.schedule();
  }

  /** Refresh ahead of expiry, so live subscriptions never carry an expired token. */
  schedule(): void {
    clearTimeout(this.timer);
    if (!this.tokens) return;
    const delay = Math.max(1_000, this.tokens.expiresAt - Date.now() - REFRESH_BEFORE_MS);
    this.timer = setTimeout(() => {
      this.refresh()
        .then((ok) => (ok ? undefined : this.expired()))
        .catch(() => this.schedule());
    }, delay);
  }
}

function readJson<T>(key: string): T | null {
  try {
    const raw = sessionStorage.getItem(key);
    return raw ? (JSON.parse(raw) as T) : null;
  } catch {
    return null;
  }
}
