import { useState, type InputHTMLAttributes, type ReactNode } from "react";

let fieldCounter = 0;

/** A label, the control it names (built from the id it is given) and an optional hint. */
export function Field({ label, hint, children }: { label: string; hint?: string; children: (id: string) => ReactNode }) {
  const [id] = useState(() => `field-${++fieldCounter}`);
  return (
    <div className="field">
      <label htmlFor={id} className="label">
        {label}
      </label>
      {children(id)}
      {hint && <span className="hint">{hint}</span>}
    </div>
  );
}

type InputProps = Omit<InputHTMLAttributes<HTMLInputElement>, "id" | "value" | "onChange" | "className">;

/** A labelled <input>; `onChange` gets the text. */
export function TextField({ label, hint, value, onChange, mono, ...input }: InputProps & {
  label: string;
  hint?: string;
  value: string;
  onChange: (value: string) => void;
  mono?: boolean;
}) {
  return (
    <Field label={label} hint={hint}>
      {(id) => <input id={id} className={mono ? "mono" : undefined} value={value} onChange={(e) => onChange(e.target.value)} {...input} />}
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
