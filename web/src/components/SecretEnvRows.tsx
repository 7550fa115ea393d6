import type { SecretEnvRow } from "../state/env";
import { TextField } from "./Field";

/** Secret environment values being added: a name and a hidden value per row. The values go to the
 * manager once and are kept in the OS keychain; nothing ever shows them again. */
export function SecretEnvRows({ rows, onChange }: { rows: SecretEnvRow[]; onChange: (rows: SecretEnvRow[]) => void }) {
  const change = (index: number, patch: Partial<SecretEnvRow>) => onChange(rows.map((row, i) => (i === index ? { ...row, ...patch } : row)));
  return (
    <div className="stack" data-testid="secret-env-rows">
      {rows.map((row, index) => (
        <div className="row gap align-end" key={index}>
          <TextField label="Secret name" mono value={row.name} onChange={(name) => change(index, { name })} autoComplete="off" placeholder="GITHUB_TOKEN" />
          <TextField label="Secret value" type="password" value={row.value} onChange={(value) => change(index, { value })} autoComplete="new-password" />
          <button type="button" className="button button-small" onClick={() => onChange(rows.filter((_, i) => i !== index))} aria-label={`Remove secret ${row.name || index + 1}`}>
            Remove
          </button>
        </div>
      ))}
      <div>
        <button type="button" className="button button-small" onClick={() => onChange([...rows, { name: "", value: "" }])}>
          Add a secret environment value
        </button>
        <span className="hint"> Kept in the OS keychain, never in the config; it cannot be shown again.</span>
      </div>
    </div>
  );
}
