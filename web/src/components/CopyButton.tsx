import { useEffect, useState } from "react";
import { toastError } from "../lib/notify";

export async function copyText(text: string): Promise<void> {
  if (navigator.clipboard?.writeText) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Non-secure contexts: fall back to a hidden textarea.
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("The browser refused to copy to the clipboard");
}

interface Props {
  text: string | (() => Promise<string> | string);
  label?: string;
  className?: string;
  onCopied?: () => void;
}

/** A button that copies and says "Copied" for two seconds. */
export function CopyButton({ text, label = "Copy", className = "button", onCopied }: Props) {
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    if (!copied) return;
    const timer = setTimeout(() => setCopied(false), 2000);
    return () => clearTimeout(timer);
  }, [copied]);
  return (
    <button
      type="button"
      className={className}
      onClick={async () => {
        try {
          await copyText(typeof text === "function" ? await text() : text);
          setCopied(true);
          onCopied?.();
        } catch (error) {
          toastError(error, "Copy failed");
        }
      }}
    >
      <CopyIcon done={copied} />
      {copied ? "Copied" : label}
    </button>
  );
}

export function CopyIcon({ done }: { done?: boolean }) {
  return done ? (
    <svg viewBox="0 0 20 20" width="15" height="15" aria-hidden="true">
      <path d="M4.5 10.5l3.5 3.5 7.5-8" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" />
    </svg>
  ) : (
    <svg viewBox="0 0 20 20" width="15" height="15" aria-hidden="true">
      <rect x="7" y="7" width="9.5" height="9.5" rx="2" fill="none" stroke="currentColor" strokeWidth="1.6" />
      <path d="M13 4.5V4a1.5 1.5 0 00-1.5-1.5h-7A1.5 1.5 0 003 4v7a1.5 1.5 0 001.5 1.5H5" fill="none" stroke="currentColor" strokeWidth="1.6" />
    </svg>
  );
}
