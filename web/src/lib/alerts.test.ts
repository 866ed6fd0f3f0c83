import { describe, expect, it } from "vitest";
import { AlertFeed, groupBursts, mergeAlerts, notice, type Alert } from "./alerts";

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

const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds)).toISOString();
const nodeAlert = (dcId: string, seconds: number, kind: Alert["kind"] = "NODE_OFFLINE"): Alert => ({
  id: `${kind}:${dcId}:${seconds}`,
  kind,
  at: at(seconds),
  message: `${dcId} ${kind}`,
  dcId,
  freq: null,
  freqStatus: null,
});
const gridAlert = (seconds: number): Alert => ({
  id: `freq:${seconds}`,
  kind: "FREQUENCY_OUT_OF_BAND",
  at: at(seconds),
  message: "grid frequency out of band",
  dcId: null,
  freq: 49.7,
  freqStatus: "CRITICAL",
});
const shape = (rows: ReturnType<typeof groupBursts>) => rows.map((r) => ("alert" in r ? r.alert.id : r.burst.map((a) => a.dcId).join("+")));

describe("groupBursts", () => {
  it("makes one row of node alerts of one kind that came together", () => {
    const alerts = [nodeAlert("c", 50), nodeAlert("b", 49), nodeAlert("a", 46), nodeAlert("z", 10)];
    expect(shape(groupBursts(alerts))).toEqual(["c+b+a", "NODE_OFFLINE:z:10"]);
  });

  it("leaves fewer than three, other kinds, grid alerts and gaps apart", () => {
    expect(shape(groupBursts([nodeAlert("b", 50), nodeAlert("a", 49)]))).toEqual(["NODE_OFFLINE:b:50", "NODE_OFFLINE:a:49"]);
    const mixed = [nodeAlert("c", 50, "NODE_ONLINE"), nodeAlert("b", 50), nodeAlert("a", 50)];
    expect(shape(groupBursts(mixed))).toEqual(["NODE_ONLINE:c:50", "NODE_OFFLINE:b:50", "NODE_OFFLINE:a:50"]);
    const split = [nodeAlert("c", 50), gridAlert(50), nodeAlert("b", 50), nodeAlert("a", 50)];
    expect(shape(groupBursts(split))).toEqual(["NODE_OFFLINE:c:50", "freq:50", "NODE_OFFLINE:b:50", "NODE_OFFLINE:a:50"]);
    // Each within 5 s of the next: a steady trickle a minute long is not one event.
    const trickle = [nodeAlert("c", 50), nodeAlert("b", 44), nodeAlert("a", 38)];
    expect(groupBursts(trickle)).toHaveLength(3);
  });

  it("keeps every alert, in order", () => {
    const alerts = [gridAlert(59), ...["e", "d", "c", "b"].map((n, i) => nodeAlert(n, 55 - i)), nodeAlert("a", 20)];
    const flat = groupBursts(alerts).flatMap((r) => ("alert" in r ? [r.alert] : r.burst));
    expect(flat).toEqual(alerts);
  });
});

describe("notice", () => {
  it("names the node while few go offline, then counts them in one replacing notice", () => {
    expect(notice(nodeAlert("a", 1), 1)).toEqual({ title: "Node offline: a", body: "a NODE_OFFLINE", tag: "NODE_OFFLINE-a" });
    const many = notice(nodeAlert("d", 4), 4);
    expect(many.title).toBe("4 nodes offline");
    expect(many.tag).toBe("NODE_OFFLINE-many");
    expect(notice(gridAlert(5), 9).title).toBe("Grid frequency critical");
  });

  it("counts the feed's node-offline alerts of the last minute", () => {
    const feed = new AlertFeed();
    const titles = ["a", "b", "c", "d", "e"].map((n, i) => feed.notice(nodeAlert(n, i)).title);
    expect(titles).toEqual(["Node offline: a", "Node offline: b", "Node offline: c", "4 nodes offline", "5 nodes offline"]);
    // Two minutes on, the burst has passed: one node is one notice again.
    const later = { ...nodeAlert("f", 0), at: new Date(Date.UTC(2026, 0, 1, 0, 2, 30)).toISOString() };
    expect(feed.notice(later).title).toBe("Node offline: f");
  });
});
