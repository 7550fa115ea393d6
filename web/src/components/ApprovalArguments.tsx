import { useState } from "react";
import type { PendingApproval } from "../api/types";
import { formatBytes, plural } from "../lib/format";
import {
  argumentsView,
  foldItems,
  foldText,
  isBlockText,
  isRedacted,
  kindOf,
  literalText,
  MAX_DEPTH,
  sizeLabel,
  visibleParts,
} from "../state/arguments";

/** Every argument of a waiting request, as the proxy will forward it. */
export function ApprovalArguments({ entry }: { entry: Pick<PendingApproval, "arguments" | "arguments_size"> }) {
  const view = argumentsView(entry);
  if (view.kind === "unavailable") {
    return (
      <div className="arguments arguments-unavailable" data-testid="arguments">
        <strong>Arguments not available.</strong> This proxy does not send the request's arguments, so it can only be allowed once.
      </div>
    );
  }
  const keys = Object.keys(view.arguments);
  return (
    <section className="arguments" data-testid="arguments" aria-label="Arguments">
      <div className="arguments-header">
        <span>Arguments</span>
        <span className="muted">
          {plural(keys.length, "argument")} · {formatBytes(view.size)}
        </span>
      </div>
      {keys.length === 0 ? (
        <p className="muted small">No arguments.</p>
      ) : (
        <dl className="arg-list">
          {keys.map((key) => (
            <div key={key} className="arg-row" data-testid="argument" data-key={key}>
              <dt className="arg-key">
                <Text text={key} />
              </dt>
              <dd className="arg-value">
                <Value value={view.arguments[key]} depth={1} />
              </dd>
            </div>
          ))}
        </dl>
      )}
    </section>
  );
}

/** A string with its invisible characters shown as codes. */
function Text({ text }: { text: string }) {
  return (
    <>
      {visibleParts(text).map((part, i) =>
        part.escaped ? (
          <span key={i} className="arg-escape" title="An invisible character">
            {part.text}
          </span>
        ) : (
          <span key={i}>{part.text}</span>
        ),
      )}
    </>
  );
}

function Value({ value, depth }: { value: unknown; depth: number }) {
  const kind = kindOf(value);
  if (kind === "string") return <StringValue text={value as string} />;
  if (kind === "array" || kind === "object") {
    if (depth > MAX_DEPTH) return <StringValue text={JSON.stringify(value, null, 2)} block />;
    return kind === "array" ? <ListValue items={value as unknown[]} depth={depth} /> : <ObjectValue value={value as Record<string, unknown>} depth={depth} />;
  }
  return <span className={`arg-literal arg-${kind}`}>{literalText(value)}</span>;
}

function FoldToggle({ expanded, onToggle, size }: { expanded: boolean; onToggle: () => void; size: string }) {
  return (
    <div className="arg-fold">
      <span className="arg-size">{size}</span>
      <button type="button" className="button button-small button-ghost" aria-expanded={expanded} onClick={onToggle}>
        {expanded ? "Show less" : "Show all"}
      </button>
    </div>
  );
}

function StringValue({ text, block }: { text: string; block?: boolean }) {
  const [expanded, setExpanded] = useState(false);
  if (isRedacted(text)) return <span className="chip chip-muted arg-redacted" title="A secret-looking value, not shown">{text}</span>;
  if (text === "") return <span className="arg-literal arg-empty">""</span>;
  const fold = foldText(text);
  const blockText = block || fold.folded || isBlockText(text);
  if (!blockText) {
    return (
      <span className="arg-string">
        <Text text={text} />
      </span>
    );
  }
  return (
    <div className="arg-block" data-folded={fold.folded && !expanded ? "true" : "false"}>
      <div className="arg-text">
        {!fold.folded || expanded ? (
          <Text text={text} />
        ) : (
          <>
            <Text text={fold.head} />
            <span className="arg-gap" role="note">
              {" "}… {sizeLabel(fold.hidden, "character")} not shown …{" "}
            </span>
            <Text text={fold.tail} />
          </>
        )}
      </div>
      {fold.folded && <FoldToggle expanded={expanded} onToggle={() => setExpanded((e) => !e)} size={sizeLabel(fold.total, "character")} />}
    </div>
  );
}

function ListValue({ items, depth }: { items: unknown[]; depth: number }) {
  const [expanded, setExpanded] = useState(false);
  if (items.length === 0) return <span className="arg-literal">[]</span>;
  const fold = foldItems(items);
  const shown = !fold.folded || expanded ? items.map((item, index) => ({ index, item })) : fold.head;
  return (
    <div className="arg-nested">
      <ol className="arg-items" start={0}>
        {shown.map(({ index, item }) => (
          <li key={index} className="arg-item">
            <span className="arg-index">{index}</span>
            <Value value={item} depth={depth + 1} />
          </li>
        ))}
        {fold.folded && !expanded && (
          <>
            <li className="arg-gap" role="note">
              … {sizeLabel(fold.hidden, "item")} not shown …
            </li>
            {fold.tail.map(({ index, item }) => (
              <li key={index} className="arg-item">
                <span className="arg-index">{index}</span>
                <Value value={item} depth={depth + 1} />
              </li>
            ))}
          </>
        )}
      </ol>
      {fold.folded && <FoldToggle expanded={expanded} onToggle={() => setExpanded((e) => !e)} size={sizeLabel(fold.total, "item")} />}
    </div>
  );
}

function ObjectValue({ value, depth }: { value: Record<string, unknown>; depth: number }) {
  const [expanded, setExpanded] = useState(false);
  const keys = Object.keys(value);
  if (keys.length === 0) return <span className="arg-literal">{"{}"}</span>;
  const fold = foldItems(keys);
  const row = (key: string) => (
    <div key={key} className="arg-row">
      <dt className="arg-key">
        <Text text={key} />
      </dt>
      <dd className="arg-value">
        <Value value={value[key]} depth={depth + 1} />
      </dd>
    </div>
  );
  return (
    <div className="arg-nested">
      <dl className="arg-list">
        {!fold.folded || expanded ? (
          keys.map(row)
        ) : (
          <>
            {fold.head.map(({ item }) => row(item))}
            <div className="arg-gap" role="note">
              … {sizeLabel(fold.hidden, "key")} not shown …
            </div>
            {fold.tail.map(({ item }) => row(item))}
          </>
        )}
      </dl>
      {fold.folded && <FoldToggle expanded={expanded} onToggle={() => setExpanded((e) => !e)} size={sizeLabel(fold.total, "key")} />}
    </div>
  );
}
