import type { ButtonHTMLAttributes } from "react";

/** A button that shows a spinner and is disabled while `busy`. */
export function BusyButton({ busy, disabled, type = "button", className = "button", children, ...button }: ButtonHTMLAttributes<HTMLButtonElement> & { busy: boolean }) {
  return (
    <button type={type} className={className} disabled={busy || disabled} {...button}>
      {busy && <span className="spinner" aria-hidden="true" />}
      {children}
    </button>
  );
}
