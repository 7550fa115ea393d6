import { describe, expect, it } from "vitest";
import { envNameProblem, parseEnvLines, secretEnv } from "./env";

describe("backend environment", () => {
  it("reads KEY=VALUE lines", () => {
    expect(parseEnvLines("A=1\n\nB=x=y\r\nEMPTY=\n")).toEqual({ env: { A: "1", B: "x=y", EMPTY: "" }, problems: [] });
    expect(parseEnvLines("NOEQUALS\n9X=1\nA=1\nA=2").problems).toEqual([
      "Environment line 1: write it as KEY=VALUE",
      "Environment line 2: 9X is not a valid environment variable name: use letters, digits and _, not starting with a digit",
      "Environment: A is given twice",
    ]);
  });

  it("checks secret rows and skips untouched ones", () => {
    expect(secretEnv([{ name: "TOKEN", value: "s" }, { name: "", value: "" }], {})).toEqual({ secrets: { TOKEN: "s" }, problems: [] });
    const { problems } = secretEnv([{ name: "A B", value: "s" }, { name: "T", value: "" }, { name: "P", value: "s" }], { P: "1" });
    expect(problems).toHaveLength(3);
    expect(problems[2]).toMatch(/both a plain and a secret/);
  });

  it("names", () => {
    expect(envNameProblem("GITHUB_TOKEN")).toBeNull();
    expect(envNameProblem("_x1")).toBeNull();
    expect(envNameProblem("1A")).not.toBeNull();
    expect(envNameProblem("")).not.toBeNull();
  });
});
