import { describe, expect, it } from "vitest";
import { subjectOf } from "./explain";

describe("subjectOf", () => {
  it("reads a decision's subject_id and an operation's subject.subject_id", () => {
    expect(subjectOf({ decision: "allow", subject_id: "alice" })).toBe("alice");
    expect(subjectOf({ method: "tools/call", subject: { subject_id: "bob", subject_claims: {} } })).toBe("bob");
  });

  it("is null when an entry records nobody", () => {
    expect(subjectOf({ event: "proxy_started" })).toBeNull();
    expect(subjectOf({ subject_id: "" })).toBeNull();
    expect(subjectOf({ subject: ["not", "a", "record"] })).toBeNull();
    expect(subjectOf({ subject: { subject_id: 7 } })).toBeNull();
  });
});
