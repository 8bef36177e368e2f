// Writes JSON answers (and JSON errors with a precise message) in one place.
import type { ServerResponse } from "node:http";

export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  sendJsonText(res, status, JSON.stringify(body), headers);
}

export function sendJsonText(res: ServerResponse, status: number, json: string, headers?: Record<string, string>): void {
  res.statusCode = status;
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  res.setHeader("Content-Length", Buffer.byteLength(json));
  if (headers) for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.end(json);
}

export function sendError(res: ServerResponse, status: number, error: string, extra?: Record<string, unknown>, headers?: Record<string, string>): void {
  sendJson(res, status, { error, ...extra }, headers);
}
