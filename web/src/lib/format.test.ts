import { describe, expect, it } from "vitest";
import { label } from "./format";

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
