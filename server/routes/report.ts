// POST /api/report: a bug report, feature request or feedback from the page, validated and stored.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RateLimit } from "../http/fair-share.ts";
import { BodyError, readBody } from "../http/read-body.ts";
import { refuse } from "../http/refuse.ts";
import { sendJson } from "../http/respond.ts";
import type { FeedbackReport, Store } from "../store/store.ts";

export const REPORT_MAX_BODY = 16 * 1024;
const TYPES = new Set(["bug", "feature", "feedback"]);
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

class BadReport extends Error {}

async function readJson(req: IncomingMessage): Promise<unknown> {
  if (!/^application\/json\b/i.test(req.headers["content-type"] ?? "")) throw new BadReport("Expected a JSON body (Content-Type: application/json)");
  const body = await readBody(req, REPORT_MAX_BODY);
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new BadReport("Request body is not valid JSON");
  }
}

export function parseReport(body: unknown, createdAt: string): FeedbackReport {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new BadReport("Expected a JSON object with email, type and message");
  const { email, type, message } = body as Record<string, unknown>;
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
      else if (error instanceof BadReport) await refuse(req, res, 400, error.message);
      else throw error;
      return;
    }
    await store.addReport(report);
    sendJson(res, 200, { success: true, message: `Thank you: your ${report.type} report was received` });
  };
}
