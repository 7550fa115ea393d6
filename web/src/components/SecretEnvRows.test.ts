import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { SecretEnvRows } from "./SecretEnvRows";

describe("SecretEnvRows", () => {
  it("hides what is typed as a secret value", () => {
    const html = renderToStaticMarkup(createElement(SecretEnvRows, { rows: [{ name: "TOKEN", value: "typed" }], onChange: () => {} }));
    expect(html).toMatch(/<input[^>]*type="password"[^>]*value="typed"|<input[^>]*value="typed"[^>]*type="password"/);
    expect(html).toContain("never in the config");
  });
});
