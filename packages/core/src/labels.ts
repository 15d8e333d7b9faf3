/**
 * Backup and schedule names, labels and label selectors (Kubernetes' equality-based syntax), and
 * how a user's reference to a backup (ID, name or ID prefix) is resolved. Pure; every refusal names
 * the field and the value.
 */
import { ErrorCodes, RvssError, invalidArgument } from "./errors";

/** A DNS label, as Velero and Kubernetes name objects: it reads well in a CLI and in a metric label. */
const namePattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_NAME = 63;
const labelName = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const labelPrefix = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/**
 * Checks a user-given name (`field` names it in the error: "backup name", "schedule name"). A
 * schedule's name is shorter, as its backups are named after it and the tick.
 */
export function checkName(field: string, name: string, max = MAX_NAME): string {
  if (name.length > max || !namePattern.test(name)) {
    throw invalidArgument(
      `${field} "${name}" is not valid: use 1-${max} lowercase letters, digits and "-", starting and ending with a letter or digit`,
      { field, value: name },
    );
  }
  return name;
}

function checkLabelKey(key: string): void {
  const slash = key.indexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : "";
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const ok =
    name.length <= MAX_NAME &&
    labelName.test(name) &&
    (slash < 0 || (prefix.length <= 253 && labelPrefix.test(prefix)));
  if (!ok)
    throw invalidArgument(`label key "${key}" is not valid: [prefix/]name, name 1-63 of A-Z a-z 0-9 - _ .`, {
      field: "labels",
      value: key,
    });
}

function checkLabelValue(key: string, value: string): void {
  if (value !== "" && (value.length > MAX_NAME || !labelName.test(value)))
    throw invalidArgument(`label "${key}" has an invalid value "${value}": at most 63 of A-Z a-z 0-9 - _ .`, {
      field: "labels",
      value,
    });
}

/** Checks labels as Kubernetes does; returns them unchanged. */
export function checkLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  for (const [k, v] of Object.entries(labels)) {
    checkLabelKey(k);
    checkLabelValue(k, v);
  }
  return { ...labels };
}

export type Requirement = { key: string; op: "=" | "!="; value: string } | { key: string; op: "exists" | "!exists" };

/**
 * Parses an equality-based selector: comma-separated `k=v`, `k==v`, `k!=v`, `k` (has the label),
 * `!k` (has not). "" selects everything.
 */
export function parseSelector(text: string): Requirement[] {
  if (text.trim() === "") return [];
  return text.split(",").map((raw) => {
    const part = raw.trim();
    const m = /^([^=!\s]+)\s*(==|!=|=)\s*([^=!\s]*)$/.exec(part);
    const bad = (): RvssError =>
      invalidArgument(`label selector "${text}" does not parse at "${part}": use key=value, key!=value, key or !key`, {
        field: "selector",
        value: text,
      });
    if (m) {
      checkLabelKey(m[1]!);
      checkLabelValue(m[1]!, m[3]!);
      return { key: m[1]!, op: m[2] === "!=" ? "!=" : "=", value: m[3]! };
    }
    const neg = part.startsWith("!");
    const key = neg ? part.slice(1) : part;
    if (key === "" || /[=!\s]/.test(key)) throw bad();
    try {
      checkLabelKey(key);
    } catch {
      throw bad();
    }
    return { key, op: neg ? "!exists" : "exists" };
  });
}

export function matchesSelector(labels: Readonly<Record<string, string>>, selector: readonly Requirement[]): boolean {
  return selector.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    switch (r.op) {
      case "=":
        return has && labels[r.key] === r.value;
      case "!=":
        return !has || labels[r.key] !== r.value;
      case "exists":
        return has;
      case "!exists":
        return !has;
    }
  });
}

/**
 * Which backup a user means by `ref`: an exact ID, then a name, then a unique ID prefix (at least 4
 * characters, as git takes them). Unknown or ambiguous is BACKUP_NOT_FOUND or INVALID_ARGUMENT.
 */
export function resolveBackupRef(ref: string, backups: readonly { id: string; name?: string }[]): string {
  const r = ref.trim();
  if (r === "") throw invalidArgument("name a backup by its ID, its name or a unique ID prefix", { field: "backup" });
  const exact = backups.find((b) => b.id === r) ?? backups.find((b) => b.name === r);
  if (exact) return exact.id;
  const byPrefix = r.length >= 4 ? backups.filter((b) => b.id.startsWith(r.toLowerCase())) : [];
  if (byPrefix.length === 1) return byPrefix[0]!.id;
  if (byPrefix.length > 1) {
    const some = byPrefix
      .slice(0, 5)
      .map((b) => b.id)
      .join(", ");
    throw invalidArgument(`backup prefix "${r}" matches ${byPrefix.length} backups (${some}); give more of the ID`, {
      field: "backup",
      value: r,
    });
  }
  throw new RvssError(
    ErrorCodes.BACKUP_NOT_FOUND,
    `backup "${r}" does not exist (no backup has that ID, name or ID prefix)`,
    {
      backupId: r,
    },
  );
}
