import type { AuthStatus } from "../api/types";

export interface AuthView {
  chip: { label: string; tone: "success" | "warning" | "muted" };
  /** One plain sentence or two about the mode, or null when the fields below say it all. */
  note: string | null;
  /** Name, email, subject and token rows: only an identity provider's sign-in has them. */
  showIdentity: boolean;
}

/** What the Auth page says for a status from /api/manager/auth/status. In local mode the
 * server's `message` is CLI wording and the identity rows would all be empty: neither is shown. */
export function authView(status: AuthStatus): AuthView {
  if (!status.configured) {
    return {
      chip: { label: "local mode", tone: "muted" },
      note:
        "No identity provider is configured, so there is nothing to sign in to. The proxies act for you, " +
        "the operating-system user: your OS user name is the subject_id that policies match.",
      showIdentity: false,
    };
  }
  if (status.authenticated) return { chip: { label: "signed in", tone: "success" }, note: null, showIdentity: true };
  return {
    chip: { label: "signed out", tone: "warning" },
    note: "Not signed in: every proxy refuses requests until you log in.",
    showIdentity: true,
  };
}
