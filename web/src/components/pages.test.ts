import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { MemoryRouter } from "react-router-dom";
import { describe, expect, it } from "vitest";
import { NotFound, ProxyNotFound } from "./NotFound";
import { SignInPanel } from "./SignInPanel";

/** The component as the browser would get it, at `path`, as plain text (tags dropped). */
function text(element: ReturnType<typeof createElement>, path = "/"): { html: string; text: string } {
  const html = renderToStaticMarkup(createElement(MemoryRouter, { initialEntries: [path] }, element));
  return { html, text: html.replace(/<[^>]+>/g, "").replace(/\s+/g, " ") };
}

describe("ProxyNotFound", () => {
  it("names the proxy the URL asked for and links back to the list", () => {
    const page = text(createElement(ProxyNotFound, { id: "px_0000dead:files" }), "/proxy/px_0000dead%3Afiles");
    expect(page.text).toContain("No proxy named px_0000dead:files");
    expect(page.html).toContain('role="alert"');
    expect(page.html).toMatch(/<a[^>]*href="\/"[^>]*>(<svg.*?<\/svg>)?All proxies<\/a>/);
    expect(page.html).toMatch(/<a[^>]*href="\/"[^>]*>Show all proxies/);
  });

  it("escapes what the URL holds", () => {
    const page = text(createElement(ProxyNotFound, { id: "<img src=x onerror=alert(1)>" }));
    expect(page.html).not.toContain("<img");
  });

  it("is generic enough for any unknown page", () => {
    const page = text(createElement(NotFound, { title: "No such page" }, "Not a page."));
    expect(page.text).toContain("No such page");
    expect(page.text).toContain("Not a page.");
  });
});

describe("SignInPanel", () => {
  it("says what is true: a manager restart keeps the sign-in (the token is kept per install)", () => {
    const page = text(createElement(SignInPanel));
    expect(page.text).not.toMatch(/sign in again after a restart/i);
    expect(page.text).toContain("restarting it does not sign you out");
    expect(page.text).toContain("until you close the browser");
  });
});
