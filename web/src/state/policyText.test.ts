import { describe, expect, it } from "vitest";
import { keptVersionText, problemsByLine } from "./policyText";

describe("policy text problems", () => {
  it("groups the messages of one line", () => {
    const byLine = problemsByLine([
      { line: 3, message: "a" },
      { line: 7, message: "b" },
      { line: 3, message: "c" },
    ]);
    expect([...byLine.entries()]).toEqual([
      [3, ["a", "c"]],
      [7, ["b"]],
    ]);
  });

  it("says which version the running proxy keeps", () => {
    expect(keptVersionText(true, "v4")).toBe("The proxy keeps policy v4 meanwhile.");
    expect(keptVersionText(false, null)).toContain("No proxy runs this policy");
  });
});
