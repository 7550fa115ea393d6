import { useState, type InputHTMLAttributes, type ReactNode } from "react";

let fieldCounter = 0;

/** A label, the control it names (built from the id it is given), an optional hint and an
 * optional error (the control's description is then `${id}-error`). */
export function Field({ label, hint, error, children }: { label: string; hint?: string; error?: string | null; children: (id: string) => ReactNode }) {
  const [id] = useState(() => `field-${++fieldCounter}`);
  return (
    <div className={`field${error ? " field-invalid" : ""}`}>
      <label htmlFor={id} className="label">
        {label}
      </label>
      {children(id)}
      {error ? (
        <span id={`${id}-error`} className="field-error">
          {error}
        </span>
      ) : (
        hint && <span className="hint">{hint}</span>
      )}
    </div>
  );
}

type InputProps = Omit<InputHTMLAttributes<HTMLInputElement>, "id" | "value" | "onChange" | "className">;

/** A labelled <input>; `onChange` gets the text. */
export function TextField({ label, hint, error, value, onChange, mono, ...input }: InputProps & {
  label: string;
  hint?: string;
  error?: string | null;
  value: string;
  onChange: (value: string) => void;
  mono?: boolean;
}) {
  return (
    <Field label={label} hint={hint} error={error}>
      {(id) => (
        <input
          id={id}
          className={mono ? "mono" : undefined}
          value={value}
          onChange={(e) => onChange(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? `${id}-error` : undefined}
          {...input}
        />
      )}
    </Field>
  );
}

export type Option<T extends string> = T | { value: T; label: string };

/** A labelled <select>; `any` adds a first, empty choice with that label. */
export function SelectField<T extends string>({ label, hint, value, onChange, options, any }: {
  label: string;
  hint?: string;
  value: T;
  onChange: (value: T) => void;
  options: readonly Option<T>[];
  any?: string;
}) {
  return (
    <Field label={label} hint={hint}>
      {(id) => (
        <select id={id} value={value} onChange={(e) => onChange(e.target.value as T)}>
          {any !== undefined && <option value="">{any}</option>}
          {options.map((option) => {
            const { value: v, label: text } = typeof option === "string" ? { value: option, label: option } : option;
            return (
              <option key={v} value={v}>
                {text}
              </option>
            );
          })}
        </select>
      )}
    </Field>
  );
}
