import { describe, expect, it } from "vitest";
import { coverage, staleness } from "./forecast";

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

describe("coverage", () => {
  it("says nothing of a node's own forecast", () => {
    expect(coverage({ nodes: null }, 20)).toBeNull();
  });

  it("names the nodes a fleet forecast sums, and warns of those it leaves out", () => {
    expect(coverage({ nodes: 20 }, 20)).toEqual({ title: "sum of 20 nodes", warning: null });
    expect(coverage({ nodes: 10 }, 20)).toEqual({
      title: "sum of 10 of 20 nodes",
      warning: "leaves out 10 nodes with less than a day of recent history",
    });
    expect(coverage({ nodes: 1 }, 2)?.warning).toBe("leaves out 1 node with less than a day of recent history");
  });

  it("does not warn while the registered nodes are not known, or fewer than it sums", () => {
    expect(coverage({ nodes: 1 }, null)).toEqual({ title: "sum of 1 node", warning: null });
    expect(coverage({ nodes: 5 }, 4)).toEqual({ title: "sum of 5 nodes", warning: null });
  });
});
