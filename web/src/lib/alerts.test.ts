import { describe, expect, it } from "vitest";
import { mergeAlerts, type Alert } from "./alerts";

describe("mergeAlerts", () => {
  const alert = (id: string, at: string): Alert => ({ id, kind: "NODE_OFFLINE", at, message: id, dcId: "n", freq: null, freqStatus: null });

  it("lists an alert seen live and stored once, newest first", () => {
    const stored = [alert("b", "2026-01-01T00:02:00Z"), alert("a", "2026-01-01T00:01:00Z")];
    const live = [alert("c", "2026-01-01T00:03:00Z"), alert("b", "2026-01-01T00:02:00Z")];
    expect(mergeAlerts(live, stored).map((a) => a.id)).toEqual(["c", "b", "a"]);
  });

  it("keeps the newest", () => {
    const stored = [alert("a", "2026-01-01T00:01:00Z"), alert("b", "2026-01-01T00:02:00Z")];
    expect(mergeAlerts([], stored, 1).map((a) => a.id)).toEqual(["b"]);
  });
});
