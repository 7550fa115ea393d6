import { describe, expect, it } from "vitest";
import type { AuthStatus } from "../api/types";
import { authView } from "./auth";

const LOCAL: AuthStatus = {
  configured: false, authenticated: false, subject_id: null, email: null, name: null, provider: null, client_id: null,
  audience: null, scopes: [], token_expires_in_hours: null, has_refresh_token: false, storage_backend: "keyring",
  mode: "local",
  message: "unauthenticated single-user mode (local): no identity provider, requests run as the OS user",
};

describe("authView", () => {
  it("local mode: one plain explanation, not the CLI's message glued to it, and no empty identity rows", () => {
    const view = authView(LOCAL);
    expect(view.chip).toEqual({ label: "local mode", tone: "muted" });
    expect(view.note).toContain("nothing to sign in to");
    expect(view.note).not.toContain(LOCAL.message);
    expect(view.note).not.toMatch(/unauthenticated|\(local\)/);
    expect(view.showIdentity).toBe(false);
  });

  it("signed in with an identity provider: the identity rows, no note", () => {
    const view = authView({ ...LOCAL, configured: true, authenticated: true, mode: "oidc", subject_id: "alice" });
    expect(view).toEqual({ chip: { label: "signed in", tone: "success" }, note: null, showIdentity: true });
  });

  it("signed out with an identity provider: says the proxies refuse until a login", () => {
    const view = authView({ ...LOCAL, configured: true, mode: "oidc" });
    expect(view.chip.label).toBe("signed out");
    expect(view.note).toContain("log in");
    expect(view.showIdentity).toBe(true);
  });
});
