// Errors people can act on: what failed, the underlying error, the next thing to try; one line on a terminal, one JSON object in a log.
import { stripVTControlCharacters } from "node:util";

export type ErrorClass = "config" | "step";

export interface ComposeErrorFields {
  /** What failed, e.g. "pull 127.0.0.1:5000/codedetect:v2@sha256:…". */
  what: string;
  /** The underlying error, reduced to its informative line. */
  cause: string;
  /** The next thing to try. */
  next: string;
  errorClass?: ErrorClass;
  /** Extra evidence, e.g. the container's last log lines; printed below the line, kept whole in JSON. */
  details?: string[];
}

export class ComposeError extends Error {
  override name = "ComposeError";
  readonly what: string;
  override readonly cause: string;
  readonly next: string;
  readonly errorClass: ErrorClass;
  readonly details: string[];

  constructor(fields: ComposeErrorFields) {
    // Output of docker and of the container may carry terminal escape codes: none reach a terminal or a log from here.
    const clean = (text: string) => stripVTControlCharacters(text).replaceAll(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "");
    // one line: a field name or path from the input may itself hold a newline ({"environment": {"A\nB": …}})
    const what = clean(fields.what).replaceAll("\n", " ");
    const cause = clean(fields.cause).replaceAll("\n", " ");
    const next = clean(fields.next).replaceAll("\n", " ");
    super(`${what}: ${cause}; next: ${next}`);
    this.what = what;
    this.cause = cause;
    this.next = next;
    this.errorClass = fields.errorClass ?? "step";
    this.details = (fields.details ?? []).map(clean);
  }

  get exitCode(): number {
    return this.errorClass === "config" ? 2 : 1;
  }

  toJSON(): Record<string, unknown> {
    return { error: this.what, cause: this.cause, next: this.next, class: this.errorClass, details: this.details };
  }
}

export function configError(what: string, cause: string, next: string): ComposeError {
  return new ComposeError({ what, cause, next, errorClass: "config" });
}

/** The most informative line of a command's stderr: the last non-empty one, which for docker is the daemon's answer. */
export function lastLine(text: string): string {
  const lines = text.split("\n").map((line) => line.trim()).filter(Boolean);
  return lines.at(-1) ?? "";
}

/** One zod issue as a field path and its message: the first issue is enough to act on, the rest follow once it is fixed. */
export function schemaIssue(error: { issues: { path: PropertyKey[]; message: string; code: string; keys?: string[] }[] }): { field: string; message: string } {
  const issue = error.issues[0];
  if (!issue) return { field: "(root)", message: "does not fit" };
  const base = issue.path.map(String).join(".");
  if (issue.code === "unrecognized_keys" && issue.keys) {
    const keys = issue.keys;
    return { field: [base, keys[0]].filter(Boolean).join("."), message: `unknown field${keys.length > 1 ? "s" : ""} ${keys.map((k) => `"${k}"`).join(", ")}` };
  }
  return { field: base || "(root)", message: issue.message };
}

/** An error as the cause inside another message: a ComposeError without its own `next` (one `next:` per line). */
export function causeOf(error: unknown): string {
  if (error instanceof ComposeError) return `${error.what}: ${error.cause}`;
  return error instanceof Error ? error.message : String(error);
}
