// The raw policy editor's problems, grouped by line for its gutter (docs/ui.md#a-broken-policy).
import type { TextProblem } from "../api/types";

/** line -> the messages of the problems found on it. */
export function problemsByLine(problems: TextProblem[]): Map<number, string[]> {
  const byLine = new Map<number, string[]>();
  for (const problem of problems) byLine.set(problem.line, [...(byLine.get(problem.line) ?? []), problem.message]);
  return byLine;
}

/** "policy v3", or what to say when no proxy runs the policy. */
export function keptVersionText(running: boolean, version: string | null): string {
  if (running && version) return `The proxy keeps policy ${version} meanwhile.`;
  if (running) return "The proxy keeps its last good policy meanwhile.";
  return "No proxy runs this policy now; a proxy cannot start with it until it is fixed.";
}
