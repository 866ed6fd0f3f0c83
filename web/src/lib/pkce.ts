// PKCE (RFC 7636) and OAuth state: pure helpers, tested with vitest.

const UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

/** A random string of `length` unreserved characters (a code verifier is 43..128). */
export function randomString(length: number, random: (n: number) => Uint8Array = randomBytes): string {
  if (length < 1) throw new RangeError("length must be positive");
  const bytes = random(length);
  let out = "";
  for (let i = 0; i < length; i++) out += UNRESERVED[bytes[i] % UNRESERVED.length];
  return out;
}

function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

export function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The S256 code challenge of a verifier. */
export async function s256(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** The claims of a JWT (not verified: the API verifies; the app only reads names and roles). */
export function jwtClaims(token: string): Record<string, unknown> {
  const part = token.split(".")[1];
  if (!part) throw new Error("malformed token");
  const padded = part.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (part.length % 4)) % 4);
  const json = decodeURIComponent(
    Array.from(atob(padded), (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""),
  );
  const claims: unknown = JSON.parse(json);
  if (typeof claims !== "object" || claims === null) throw new Error("malformed token claims");
  return claims as Record<string, unknown>;
}

export type Role = "viewer" | "operator" | "admin";
const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

/** The platform roles of a token's `realm_access.roles`. */
export function rolesOf(claims: Record<string, unknown>): Role[] {
  const access = claims["realm_access"];
  const raw = typeof access === "object" && access !== null ? (access as { roles?: unknown }).roles : [];
  return Array.isArray(raw) ? raw.filter((r): r is Role => typeof r === "string" && r in RANK) : [];
}

/** True if one of `roles` includes `wanted` (admin ⊃ operator ⊃ viewer), as the API checks. */
export function hasRole(roles: readonly Role[], wanted: Role): boolean {
  return roles.some((r) => RANK[r] >= RANK[wanted]);
}
