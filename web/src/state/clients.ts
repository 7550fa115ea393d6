// The MCP clients the UI writes snippets for, each in its own format (docs/ui.md#connecting-a-client).
import type { ClientId } from "../api/types";

export interface ClientInfo {
  id: ClientId;
  label: string;
  /** Where the client reads its servers; "project" files live in the project's folder. */
  file: string;
  project: boolean;
}

export const CLIENTS: readonly ClientInfo[] = [
  { id: "claude-desktop", label: "Claude Desktop", file: "claude_desktop_config.json (in Claude's settings folder)", project: false },
  { id: "claude-code", label: "Claude Code", file: ".mcp.json in the project folder", project: true },
  { id: "cursor", label: "Cursor", file: "~/.cursor/mcp.json", project: false },
  { id: "vscode", label: "VS Code", file: ".vscode/mcp.json in the project folder", project: true },
];

export function clientInfo(id: ClientId): ClientInfo {
  return CLIENTS.find((c) => c.id === id) ?? CLIENTS[0];
}

/** The snippet to paste: only the client's servers key (`servers` for VS Code, else `mcpServers`). */
export function snippetText(answer: Record<string, unknown>, client: ClientId): string {
  const key = client === "vscode" ? "servers" : "mcpServers";
  return JSON.stringify({ [key]: answer[key] ?? {} }, null, 2);
}

/** How many servers a snippet answer holds. */
export function serverCount(answer: Record<string, unknown>): number {
  const servers = answer.servers ?? answer.mcpServers;
  return servers && typeof servers === "object" ? Object.keys(servers).length : 0;
}
