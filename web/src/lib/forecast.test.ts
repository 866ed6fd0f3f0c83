import { describe, expect, it } from "vitest";
import { staleness } from "./forecast";

const issued = { issuedAt: "2026-12-06T10:00:00Z", staleAfter: "2026-12-06T10:30:00Z" };

describe("staleness", () => {
  it("says nothing while a newer forecast is not yet due", () => {
    expect(staleness(issued, Date.parse("2026-12-06T10:05:00Z"))).toBeNull();
    expect(staleness(issued, Date.parse("2026-12-06T10:30:00Z"))).toBeNull();
  });

  it("says how old a forecast is once its successor is overdue", () => {
    const note = staleness(issued, Date.parse("2026-12-06T13:00:00Z"));
    expect(note).toContain("made 3 h ago");
    expect(note).toContain("no cycle has forecast this series since");
  });

  it("says nothing rather than guess when the due time is not a time", () => {
    expect(staleness({ ...issued, staleAfter: "" }, Date.parse("2027-01-01T00:00:00Z"))).toBeNull();
  });
});
