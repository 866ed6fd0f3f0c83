import { describe, expect, it } from "vitest";
import { label, latency, metricColumns, num, plural, shortfall, withGaps } from "./format";

describe("label", () => {
  it("turns an enum value into words", () => {
    expect(label("DISCHARGE")).toBe("Discharge");
    expect(label("FLEET_MAX")).toBe("Fleet max");
    expect(label("LOAD")).toBe("Load");
  });

  it("keeps acronyms as they are", () => {
    expect(label("PV")).toBe("PV");
    expect(label("SOC")).toBe("SOC");
  });
});

describe("metricColumns", () => {
  it("puts the known metrics in reading order with their headings", () => {
    const cols = metricColumns(["series", "mae", "origins", "mase", "fit_s", "coverage_80"]);
    expect(cols.map((c) => c.heading)).toEqual(["MASE", "MAE kW", "80 % coverage", "Series", "Origins", "Fit s"]);
  });

  it("shows counts without decimals", () => {
    const cols = Object.fromEntries(metricColumns(["series", "origins", "mase"]).map((c) => [c.name, c.digits]));
    expect(cols).toEqual({ mase: 3, series: 0, origins: 0 });
  });

  it("keeps a metric it does not know, after the known ones, under its own name", () => {
    const cols = metricColumns(["reward", "mase"]);
    expect(cols).toEqual([
      { name: "mase", heading: "MASE", digits: 3 },
      { name: "reward", heading: "reward", digits: 3 },
    ]);
  });
});

describe("num", () => {
  it("rounds to the digits asked, with the unit", () => {
    expect(num(1234.56, 1, "kW")).toBe("1,234.6 kW");
    expect(num(-2.25, 2)).toBe("-2.25");
    expect(num(45, 0)).toBe("45");
  });

  it("shows a value that rounds to zero without a sign", () => {
    expect(num(-0.03, 1)).toBe("0.0");
    expect(num(-0, 1)).toBe("0.0");
    expect(num(-0.0004, 3, "kW")).toBe("0.000 kW");
    expect(num(-0.05, 1)).toBe("-0.1");
  });

  it("shows a missing or non-finite value as a dash", () => {
    expect(num(null)).toBe("–");
    expect(num(undefined)).toBe("–");
    expect(num(Number.NaN)).toBe("–");
  });
});

describe("latency", () => {
  it("reads milliseconds under 10 s", () => {
    expect(latency(37)).toBe("37 ms");
    expect(latency(1834)).toBe("1,834 ms");
  });

  it("reads seconds, then minutes, beyond", () => {
    expect(latency(12_400)).toBe("12 s");
    expect(latency(7_476_091)).toBe("125 min");
  });

  it("reads a command not yet finished as a dash", () => {
    expect(latency(null)).toBe("–");
  });
});

describe("withGaps", () => {
  it("puts an empty row between points further apart than the step", () => {
    const rows = withGaps(
      [
        [0, 1, 2],
        [60, 3, 4],
        [600, 5, 6],
      ],
      180,
    );
    expect(rows).toEqual([
      [0, 1, 2],
      [60, 3, 4],
      [330, NaN, NaN],
      [600, 5, 6],
    ]);
  });

  it("leaves points within the step as they are", () => {
    const rows = [
      [0, 1],
      [180, 2],
      [300, 3],
    ];
    expect(withGaps(rows, 180)).toEqual(rows);
    expect(withGaps([], 180)).toEqual([]);
  });
});

describe("shortfall", () => {
  it("says how many nodes completed and what became of the others", () => {
    expect(shortfall({ completed: 0, rejected: 0, expired: 2, cancelled: 0, total: 2 })).toBe("0 of 2 completed: 2 expired");
    expect(shortfall({ completed: 3, rejected: 1, expired: 2, cancelled: 0, total: 6 })).toBe("3 of 6 completed: 1 rejected, 2 expired");
  });

  it("names no status none of the nodes ended in", () => {
    expect(shortfall({ completed: 0, rejected: 0, expired: 0, cancelled: 0, total: 0 })).toBe("0 of 0 completed");
  });
});

describe("plural", () => {
  it("adds an s to any count but one", () => {
    expect([0, 1, 2].map((n) => plural(n, "node"))).toEqual(["0 nodes", "1 node", "2 nodes"]);
  });
});
