import { describe, expect, it } from "vitest";
import { plural } from "./format";

describe("plural", () => {
  it("puts the noun in the number of the count", () => {
    expect(plural(1, "new incident")).toBe("1 new incident");
    expect(plural(2, "new incident")).toBe("2 new incidents");
    expect(plural(0, "entry", "entries")).toBe("0 entries");
    expect(plural(1, "entry", "entries")).toBe("1 entry");
    expect(plural(1200, "proxy", "proxies")).toBe("1,200 proxies");
  });
});
