import { describe, expect, it } from "vitest";
import { flatRange } from "./scale";

describe("flatRange", () => {
  it("puts a flat line in the middle of a range its own size", () => {
    expect(flatRange(0, 0)).toEqual([-1, 1]);
    expect(flatRange(10, 10)).toEqual([9, 11]);
    expect(flatRange(-5, -5)).toEqual([-5.5, -4.5]);
  });

  it("leaves values that vary to the chart", () => {
    expect(flatRange(0, 0.4)).toBeNull();
    expect(flatRange(45.6, 45.9)).toBeNull();
  });
});
