// POST /api/report: a bug report, feature request or feedback from the page, validated and stored.
import type { IncomingMessage, ServerResponse } from "node:http";
import { MIMEType } from "node:util";
import type { RateLimit } from "../http/fair-share.ts";
import { BodyError, readBody } from "../http/read-body.ts";
import { refuse } from "../http/refuse.ts";
import { sendJson } from "../http/respond.ts";
import type { FeedbackReport, Store } from "../store/store.ts";

export const REPORT_MAX_BODY = 16 * 1024;
const TYPES = new Set(["bug", "feature", "feedback"]);
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

class BadReport extends Error {
  readonly status: number;
  constructor(message: string, status = 400) {
    super(message);
    this.status = status;
  }
}

function jsonType(header: string | undefined): MIMEType | null {
  try {
    const type = new MIMEType(header ?? "");
    return type.essence === "application/json" ? type : null;
  } catch {
    return null;
  }
}

/** Only plain UTF-8 JSON is read: a compressed body or another charset would be misread as UTF-8, so it is refused (415). */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = jsonType(req.headers["content-type"]);
  if (!type) throw new BadReport("Expected a JSON body (Content-Type: application/json)");
  const charset = type.params.get("charset");
  if (charset !== null && !/^utf-?8$/i.test(charset)) {
    throw new BadReport(`Unsupported charset "${charset}": send the JSON as UTF-8 (charset=utf-8 or none)`, 415);
  }
  const encoding = (req.headers["content-encoding"] ?? "").trim();
  if (encoding !== "" && encoding.toLowerCase() !== "identity") {
    throw new BadReport(`Unsupported Content-Encoding "${encoding}": send the JSON uncompressed`, 415);
  }
  const body = await readBody(req, REPORT_MAX_BODY);
  let text: string;
  try {
    text = STRICT_UTF8.decode(body);
  } catch {
    throw new BadReport(`${invalidUtf8Where(body)} is not valid UTF-8: send the JSON as UTF-8`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new BadReport("Request body is not valid JSON");
  }
}

/** Refuses invalid UTF-8 instead of turning it into U+FFFD, which would store something the client never wrote. */
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Which field holds the invalid bytes ("Field message"), found by reading the body leniently; else "Request body". */
function invalidUtf8Where(body: Buffer): string {
  try {
    const lenient = JSON.parse(body.toString("utf8")) as unknown;
    if (typeof lenient === "object" && lenient !== null && !Array.isArray(lenient)) {
      const fields = Object.entries(lenient).filter(([, value]) => typeof value === "string" && value.includes("\uFFFD")).map(([name]) => name);
      if (fields.length > 0) return `Field ${fields.join(", ")}`;
    }
  } catch {
    // not JSON either: the body as a whole is named
  }
  return "Request body";
}

/** C0 controls but tab and line breaks, DEL and C1 controls (ESC starts terminal escapes, U+009B is one on its own). */
const CONTROL_IN_TEXT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
const CONTROL_IN_LINE = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * A report is read by people, in a terminal or a page: control characters (terminal escapes) and lone surrogates
 * (JSON "\ud800", not Unicode text; stored they would become U+FFFD) are refused, naming the field.
 */
function checkText(field: string, value: unknown, multiline: boolean): void {
  if (typeof value !== "string") return;
  if (!value.isWellFormed()) throw new BadReport(`${field} contains a lone surrogate (an unpaired \\ud800-\\udfff escape): it is not Unicode text`);
  if ((multiline ? CONTROL_IN_TEXT : CONTROL_IN_LINE).test(value)) {
    throw new BadReport(`${field} contains control characters (such as terminal escapes); only text${multiline ? ", tabs and line breaks" : ""} is accepted`);
  }
}

export function parseReport(body: unknown, createdAt: string): FeedbackReport {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new BadReport("Expected a JSON object with email, type and message");
  const { email, type, message } = body as Record<string, unknown>;
  checkText("email", email, false);
  checkText("message", message, true);
  if (typeof email !== "string" || email.length > 254 || !EMAIL.test(email.trim())) throw new BadReport("A valid email is required");
  if (typeof type !== "string" || !TYPES.has(type)) throw new BadReport("type must be one of bug, feature, feedback");
  if (typeof message !== "string" || message.trim() === "") throw new BadReport("message is required");
  if ([...message].length > 500) throw new BadReport("message must be at most 500 characters");
  return { email: email.trim(), type: type as FeedbackReport["type"], message, createdAt };
}

/** Each report is a database write: a rate per client (key from clientOf) guards it. */
export interface ReportGuard {
  clientOf: (req: IncomingMessage) => string;
  perClient: RateLimit;
}

export function reportRoute(store: Store, guard?: ReportGuard) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const waitSeconds = guard ? guard.perClient.take(guard.clientOf(req)) : null;
    if (waitSeconds !== null) {
      res.setHeader("Retry-After", String(waitSeconds));
      await refuse(req, res, 429, `Too many reports from your address; try again in ${waitSeconds} s`);
      return;
    }
    let report: FeedbackReport;
    try {
      report = parseReport(await readJson(req), new Date().toISOString());
    } catch (error) {
      if (error instanceof BodyError) await refuse(req, res, error.status, error.message);
      else if (error instanceof BadReport) await refuse(req, res, error.status, error.message);
      else throw error;
      return;
    }
    await store.addReport(report);
    sendJson(res, 200, { success: true, message: `Thank you: your ${report.type} report was received` });
  };
}
