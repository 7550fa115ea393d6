// Editing a nested config document by dotted paths, and comparing two of them.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function getPath(doc: unknown, path: string): unknown {
  let current: unknown = doc;
  for (const part of path.split(".")) {
    if (!current || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** A copy of `doc` with `path` set to `value`, creating objects on the way; undefined removes. */
export function setPath<T extends Record<string, unknown>>(doc: T, path: string, value: unknown): T {
  const [head, ...rest] = path.split(".");
  const copy: Record<string, unknown> = { ...doc };
  if (rest.length === 0) {
    if (value === undefined) delete copy[head];
    else copy[head] = value;
    return copy as T;
  }
  const child = copy[head];
  copy[head] = setPath(child && typeof child === "object" && !Array.isArray(child) ? (child as Record<string, unknown>) : {}, rest.join("."), value);
  return copy as T;
}

export interface Difference {
  path: string;
  left: unknown;
  right: unknown;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return Boolean(value) && typeof value === "object" && !Array.isArray(value);
}

/** Leaf paths whose values differ between `left` and `right` (arrays compared whole). */
export function diffPaths(left: unknown, right: unknown, prefix = ""): Difference[] {
  if (isObject(left) && isObject(right)) {
    const keys = [...new Set([...Object.keys(left), ...Object.keys(right)])].sort();
    return keys.flatMap((key) => diffPaths(left[key], right[key], prefix ? `${prefix}.${key}` : key));
  }
  if (isObject(left) || isObject(right)) {
    if (JSON.stringify(left) === JSON.stringify(right)) return [];
    const l = isObject(left) ? left : {};
    const r = isObject(right) ? right : {};
    const nested = diffPaths(l, r, prefix);
    return nested.length ? nested : [{ path: prefix, left, right }];
  }
  return JSON.stringify(left) === JSON.stringify(right) ? [] : [{ path: prefix, left, right }];
}

export function isDirty(original: unknown, draft: unknown): boolean {
  return diffPaths(original, draft).length > 0;
}

/** The body that saves `draft` over `original` on the manager, which merges it into the file: a
 * key the draft no longer has is sent as null, which removes it (the default applies again). */
export function savePatch(original: unknown, draft: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = { ...draft };
  if (!isObject(original)) return body;
  for (const [key, value] of Object.entries(original)) {
    if (!(key in draft) || draft[key] === undefined) {
      if (value !== null && value !== undefined) body[key] = null;
    } else if (isObject(value) && isObject(draft[key])) {
      body[key] = savePatch(value, draft[key] as Record<string, unknown>);
    }
  }
  return body;
}
