// What a pending approval asks for, made readable: every argument, long values folded with their
// full size and never cut silently, invisible characters made visible (issue 15).
import type { PendingApproval } from "../api/types";
import { plural } from "../lib/format";

/** Strings longer than this many characters are folded. */
export const FOLD_CHARS = 300;
/** A folded string shows its first HEAD_CHARS and last TAIL_CHARS characters. */
export const HEAD_CHARS = 200;
export const TAIL_CHARS = 80;
/** Lists (and objects) with more than this many items are folded. */
export const FOLD_ITEMS = 20;
/** A folded list shows its first HEAD_ITEMS and last TAIL_ITEMS items. */
export const HEAD_ITEMS = 15;
export const TAIL_ITEMS = 5;
/** Deeper than this, a value is shown as indented JSON text (still folded, never cut). */
export const MAX_DEPTH = 6;

export type ArgumentsView =
  | { kind: "complete"; arguments: Record<string, unknown>; size: number }
  | { kind: "unavailable" };

/** The arguments, when the proxy sent them whole (`arguments_size` says so); an older proxy
 * sends a shortened summary without a size, which is not shown as if it were the request. */
export function argumentsView(entry: Pick<PendingApproval, "arguments" | "arguments_size">): ArgumentsView {
  const args = entry.arguments;
  const size = entry.arguments_size;
  if (typeof size !== "number" || !Number.isFinite(size) || size < 0) return { kind: "unavailable" };
  if (!args || typeof args !== "object" || Array.isArray(args)) return { kind: "unavailable" };
  return { kind: "complete", arguments: args, size };
}

// --- strings ------------------------------------------------------------------------------

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** Length in characters (code points, so an emoji counts once). */
export function charCount(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    if (!(isLowSurrogate(text.charCodeAt(i)) && i > 0 && isHighSurrogate(text.charCodeAt(i - 1)))) count++;
  }
  return count;
}

/** The UTF-16 index of the `chars`-th character from the start. */
function indexAfter(text: string, chars: number): number {
  let index = 0;
  for (let n = 0; n < chars && index < text.length; n++) {
    index += isHighSurrogate(text.charCodeAt(index)) && isLowSurrogate(text.charCodeAt(index + 1)) ? 2 : 1;
  }
  return index;
}

/** The UTF-16 index where the last `chars` characters begin. */
function indexBeforeLast(text: string, chars: number): number {
  let index = text.length;
  for (let n = 0; n < chars && index > 0; n++) {
    index -= isLowSurrogate(text.charCodeAt(index - 1)) && index > 1 && isHighSurrogate(text.charCodeAt(index - 2)) ? 2 : 1;
  }
  return index;
}

export interface FoldedText {
  folded: boolean;
  /** Characters in the whole value. */
  total: number;
  head: string;
  tail: string;
  /** Characters between head and tail that are not shown until "Show all". */
  hidden: number;
}

/** A long string folded to its beginning and its end (the end is where a `| sh` hides), with
 * the number of characters left out; a short one whole. */
export function foldText(text: string, limit = FOLD_CHARS, head = HEAD_CHARS, tail = TAIL_CHARS): FoldedText {
  const total = charCount(text);
  if (total <= limit || head + tail >= total) return { folded: false, total, head: text, tail: "", hidden: 0 };
  return {
    folded: true,
    total,
    head: text.slice(0, indexAfter(text, head)),
    tail: text.slice(indexBeforeLast(text, tail)),
    hidden: total - head - tail,
  };
}

export interface FoldedItems<T> {
  folded: boolean;
  total: number;
  /** Items shown before the fold, with their positions. */
  head: { index: number; item: T }[];
  tail: { index: number; item: T }[];
  hidden: number;
}

/** A long list folded to its first and last items, with the number left out. */
export function foldItems<T>(items: readonly T[], limit = FOLD_ITEMS, head = HEAD_ITEMS, tail = TAIL_ITEMS): FoldedItems<T> {
  const all = items.map((item, index) => ({ index, item }));
  if (items.length <= limit || head + tail >= items.length) {
    return { folded: false, total: items.length, head: all, tail: [], hidden: 0 };
  }
  return {
    folded: true,
    total: items.length,
    head: all.slice(0, head),
    tail: all.slice(items.length - tail),
    hidden: items.length - head - tail,
  };
}

/** "12,345 characters", "1 item", "40 keys". */
export function sizeLabel(count: number, unit: "character" | "item" | "key"): string {
  return plural(count, unit);
}

// Characters a browser draws as nothing (or that reorder the text around them): shown as their
// code so that nothing in an argument is invisible to the person approving it. Line breaks and
// tabs are kept as they are. Tag characters and the supplementary variation selectors can carry
// hidden text; the common emoji selector U+FE0F is left alone.
const INVISIBLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufeff\ufff9-\ufffb]|\udb40[\udc00-\udc7f\udd00-\uddef]/g;

export type TextPart = { text: string; escaped: boolean };

/** The text split into plain runs and escaped invisible characters ("U+202E"). */
export function visibleParts(text: string): TextPart[] {
  const parts: TextPart[] = [];
  let last = 0;
  for (const match of text.matchAll(INVISIBLE)) {
    const at = match.index ?? 0;
    if (at > last) parts.push({ text: text.slice(last, at), escaped: false });
    const code = match[0].codePointAt(0) ?? 0;
    parts.push({ text: `U+${code.toString(16).toUpperCase().padStart(4, "0")}`, escaped: true });
    last = at + match[0].length;
  }
  if (last < text.length) parts.push({ text: text.slice(last), escaped: false });
  return parts;
}

/** The marker a proxy puts in place of a secret-looking value. */
export function isRedacted(value: unknown): boolean {
  return typeof value === "string" && /^\[redacted[^\]]*\]$/i.test(value.trim());
}

/** Kind of a JSON value, for choosing how to show it. */
export type ValueKind = "string" | "number" | "boolean" | "null" | "array" | "object" | "other";

export function kindOf(value: unknown): ValueKind {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  switch (typeof value) {
    case "string":
      return "string";
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "object":
      return "object";
    default:
      return "other";
  }
}

/** Numbers, booleans and null as JSON writes them. */
export function literalText(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text;
}

/** A string shown on its own line(s) rather than inline: long or multi-line. */
export function isBlockText(text: string): boolean {
  return text.length > 80 || text.includes("\n");
}
