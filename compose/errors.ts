// Errors people can act on: what failed, the underlying error, the next thing to try; one line on a terminal, one JSON object in a log.

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
    super(`${fields.what}: ${fields.cause}; next: ${fields.next}`);
    this.what = fields.what;
    this.cause = fields.cause;
    this.next = fields.next;
    this.errorClass = fields.errorClass ?? "step";
    this.details = fields.details ?? [];
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
