// A STDIO backend's environment in the forms (docs/configuration.md#a-backends-environment):
// plain values as KEY=VALUE lines, secrets as name + value rows whose values are write-only.

export interface SecretEnvRow {
  name: string;
  value: string;
}

/** As the config model checks it: letters, digits and _, not starting with a digit. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,199}$/;

export function envNameProblem(name: string): string | null {
  return ENV_NAME.test(name) ? null : `${name || "(empty)"} is not a valid environment variable name: use letters, digits and _, not starting with a digit`;
}

/** "KEY=VALUE" lines → {KEY: VALUE} (blank lines skipped; the value may hold '=' and may be empty). */
export function parseEnvLines(text: string): { env: Record<string, string>; problems: string[] } {
  const env: Record<string, string> = {};
  const problems: string[] = [];
  text.split("\n").forEach((raw, index) => {
    const line = raw.replace(/\r$/, "");
    if (!line.trim()) return;
    const at = line.indexOf("=");
    if (at < 0) {
      problems.push(`Environment line ${index + 1}: write it as KEY=VALUE`);
      return;
    }
    const name = line.slice(0, at).trim();
    const problem = envNameProblem(name);
    if (problem) problems.push(`Environment line ${index + 1}: ${problem}`);
    else if (name in env) problems.push(`Environment: ${name} is given twice`);
    else env[name] = line.slice(at + 1);
  });
  return { env, problems };
}

/** The secret rows the user filled in, as {NAME: value}, and what is wrong with them. */
export function secretEnv(rows: SecretEnvRow[], plain: Record<string, string>): { secrets: Record<string, string>; problems: string[] } {
  const secrets: Record<string, string> = {};
  const problems: string[] = [];
  for (const row of rows) {
    const name = row.name.trim();
    if (!name && !row.value) continue; // an untouched row
    const problem = envNameProblem(name);
    if (problem) problems.push(`Secret environment: ${problem}`);
    else if (!row.value) problems.push(`Secret environment: ${name} has no value`);
    else if (name in secrets) problems.push(`Secret environment: ${name} is given twice`);
    else if (name in plain) problems.push(`${name} is both a plain and a secret environment value: keep one`);
    else secrets[name] = row.value;
  }
  return { secrets, problems };
}
