import { describe, expect, it } from "vitest";
import { clientInfo, serverCount, snippetText } from "./clients";

describe("client snippets", () => {
  const entry = { type: "stdio", command: "/bin/mcp-acp", args: ["start", "--proxy", "files"] };

  it("keeps only the client's own servers key", () => {
    const vscode = JSON.parse(snippetText({ servers: { files: entry }, executable_path: "/bin/mcp-acp" }, "vscode"));
    expect(vscode).toEqual({ servers: { files: entry } });
    const desktop = JSON.parse(snippetText({ mcpServers: { files: entry }, executable_path: "x" }, "claude-desktop"));
    expect(desktop).toEqual({ mcpServers: { files: entry } });
  });

  it("counts servers and names project clients", () => {
    expect(serverCount({ servers: { a: {}, b: {} } })).toBe(2);
    expect(serverCount({})).toBe(0);
    expect(clientInfo("vscode").project).toBe(true);
    expect(clientInfo("cursor").project).toBe(false);
  });
});
