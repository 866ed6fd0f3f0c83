import { describe, expect, it } from "vitest";
import { base64url, hasRole, jwtClaims, randomString, rolesOf, s256 } from "./pkce";
import { checkDispatch, freqBand, pushWindow } from "./format";

describe("pkce", () => {
  it("computes the RFC 7636 S256 example", async () => {
    expect(await s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")).toBe("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  });
  it("makes verifiers of unreserved characters", () => {
    const v = randomString(64);
    expect(v).toMatch(/^[A-Za-z0-9\-._~]{64}$/);
    expect(base64url(new Uint8Array([251, 255]))).toBe("-_8");
  });
  it("reads roles from a token and ranks them", () => {
    const payload = base64url(new TextEncoder().encode(JSON.stringify({ realm_access: { roles: ["operator", "x"] } })));
    const roles = rolesOf(jwtClaims(`h.${payload}.s`));
    expect(roles).toEqual(["operator"]);
    expect(hasRole(roles, "viewer")).toBe(true);
    expect(hasRole(roles, "admin")).toBe(false);
  });
});

describe("dispatch form", () => {
  const base = { allNodes: false, targets: ["node-00001"], action: "CHARGE" as const, kw: "20", minutes: "15" };
  it("builds the mutation input", () => {
    expect(checkDispatch(base).input).toEqual({
      action: "CHARGE", allNodes: false, targets: ["node-00001"], kw: 20, durationS: 900,
    });
  });
  it.each([
    ["abc", "kW must be a number"],
    ["", "kW must be a number"],
    ["-5", "cannot be negative"],
    ["0", "greater than 0"],
  ])("refuses kW %j", (kw, message) => {
    const { input, errors } = checkDispatch({ ...base, kw });
    expect(input).toBeNull();
    expect(errors["kw"]).toContain(message);
  });
  it("needs targets and a duration", () => {
    const { errors } = checkDispatch({ ...base, targets: [], minutes: "0" });
    expect(checkDispatch({ ...base, minutes: "0.5" }).input?.durationS).toBe(30);
    expect(Object.keys(errors).sort()).toEqual(["minutes", "targets"]);
    expect(checkDispatch({ ...base, action: "HOLD", kw: "0" }).input?.kw).toBe(0);
  });
});

describe("helpers", () => {
  it("bands the frequency", () => {
    expect([50.05, 49.85, 50.3, Number.NaN].map(freqBand)).toEqual(["NORMAL", "WARNING", "CRITICAL", "UNKNOWN"]);
  });
  it("keeps a rolling window", () => {
    let rows: number[][] = [];
    for (const t of [0, 10, 20, 30]) rows = pushWindow(rows, [t, t], 15);
    expect(rows.map((r) => r[0])).toEqual([20, 30]);
  });
});
