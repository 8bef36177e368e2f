// The load through HAProxy (autocannon, programmatic): a steady mix of health, stats and uploads of distinct and identical Python files; every outcome recorded client-side.
import { createHash, randomBytes } from "node:crypto";
import autocannon, { type AutocannonRequest } from "autocannon";

export interface LoadOptions {
  url: string;
  connections: number;
  /** Upper bound: the run stops by itself after this many seconds even if nobody stops it. */
  maxSeconds: number;
  /** "mixed": health, stats, a distinct upload, an identical upload per cycle; "uploads": distinct and identical uploads only. */
  mix: "mixed" | "uploads";
}

export interface Failure {
  /** Seconds since the load started. */
  at: number;
  what: string;
}

export interface LoadReport {
  seconds: number;
  sent: number;
  ok: number;
  /** 503/429 answered with Retry-After: overload said properly (a client retries), not a lost write. */
  refused: number;
  /** Everything else: other statuses, connection errors, timeouts. */
  failures: Failure[];
  /** file_hash → the sha256 of what was sent, for each upload acknowledged with 200. */
  acknowledged: Map<string, string>;
  /** Acknowledged uploads (each one is a row of the analysis table), repeats included. */
  acknowledgedUploads: number;
  /** Uploads the client sent and got no 200 for (a row may or may not exist: never acknowledged). */
  unacknowledgedUploads: number;
  /** Acknowledgements whose file_hash is not the sha256 of what was sent. */
  mismatched: number;
  /** Seconds from the first to the last failure (0 without failures). */
  degradedSeconds: number;
}

const IDENTICAL = Buffer.from("def shared_helper(values):\n    \"\"\"Sum the values.\"\"\"\n    return sum(values)\n");

function pythonFile(run: string, n: number): Buffer {
  return Buffer.from(`# load ${run} file ${n}\n\n\ndef handler_${n}(items):\n    \"\"\"Count the items.\"\"\"\n    total = 0\n    for item in items:\n        total += len(str(item))\n    return total\n`);
}

function multipart(content: Buffer, filename: string): { body: Buffer; contentType: string } {
  const boundary = `----cdha${randomBytes(8).toString("hex")}`;
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: text/x-python\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { body: Buffer.concat([head, content, tail]), contentType: `multipart/form-data; boundary=${boundary}` };
}

export interface RunningLoad {
  /** Stops the load and waits for the requests in flight: the report. */
  stop(): Promise<LoadReport>;
  /** Failures so far (for watching a scenario progress). */
  failuresSoFar(): number;
  /** Acknowledged uploads so far. */
  acknowledgedSoFar(): number;
}

export function startLoad(options: LoadOptions): RunningLoad {
  const run = randomBytes(6).toString("hex");
  const started = Date.now();
  const since = () => (Date.now() - started) / 1000;
  let counter = 0;
  let sent = 0;
  let ok = 0;
  let refused = 0;
  let acknowledgedUploads = 0;
  let uploadsSent = 0;
  let mismatched = 0;
  const failures: Failure[] = [];
  const acknowledged = new Map<string, string>();

  const record = (status: number, headers: Record<string, string>, what: string, detail = "") => {
    sent += 1;
    if (status >= 200 && status < 300) ok += 1;
    else if ((status === 503 || status === 429) && headers["retry-after"]) refused += 1;
    else failures.push({ at: since(), what: `${what} → ${status}${detail ? ` ${detail}` : ""}` });
  };
  // Stopping autocannon drops what is in flight; so uploads stop first (a winding-down connection asks for health instead) and
  // their answers are awaited. A connection sends one request at a time: setting up the next one settles the previous upload
  // (answered, or lost to an error). Every cycle ends with a GET, so an upload's successor shares its context.
  let windingDown = false;
  let nextUploadId = 0;
  const uploadsInFlight = new Set<number>();
  const settlePrevious = (context: Record<string, unknown>) => {
    if (typeof context.uploadId === "number") uploadsInFlight.delete(context.uploadId);
    context.uploadId = undefined;
  };
  const get = (path: string): AutocannonRequest => ({
    method: "GET",
    path,
    setupRequest: (request, context) => {
      settlePrevious(context);
      return request;
    },
    onResponse: (status, _body, _context, headers) => record(status, headers, `GET ${path}`),
  });
  const upload = (distinct: boolean): AutocannonRequest => ({
    method: "POST",
    path: "/api/analyze",
    setupRequest: (request, context) => {
      settlePrevious(context);
      if (windingDown) {
        context.sentHash = null;
        return { ...request, method: "GET", path: "/api/health", body: "", headers: {} };
      }
      const content = distinct ? pythonFile(run, (counter += 1)) : IDENTICAL;
      const { body, contentType } = multipart(content, distinct ? `load_${counter}.py` : "shared_helper.py");
      context.sentHash = createHash("sha256").update(content).digest("hex");
      context.uploadId = (nextUploadId += 1);
      uploadsInFlight.add(nextUploadId);
      uploadsSent += 1;
      // No content-length of ours: autocannon sets it from the body; a second one is a malformed request to any front end stricter than HAProxy (the ALB twin, Node).
      return { ...request, method: "POST", path: "/api/analyze", body, headers: { ...request.headers, "content-type": contentType } };
    },
    onResponse: (status, body, context, headers) => {
      if (context.sentHash === null) return record(status, headers, "GET /api/health");
      settlePrevious(context);
      record(status, headers, "POST /api/analyze", status === 200 ? "" : body.slice(0, 160));
      if (status !== 200) return;
      let fileHash: unknown;
      try {
        fileHash = (JSON.parse(body) as { file_hash?: unknown }).file_hash;
      } catch {}
      acknowledgedUploads += 1;
      if (fileHash !== context.sentHash) mismatched += 1;
      if (typeof fileHash === "string") acknowledged.set(fileHash, String(context.sentHash));
    },
  });
  const requests = options.mix === "mixed" ? [get("/api/health"), upload(true), get("/api/stats"), upload(false), get("/api/health")] : [upload(true), upload(false), get("/api/health")];
  let result: { errors: number; timeouts: number } | null = null;
  let stopper: () => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    const instance = autocannon({ url: options.url, connections: options.connections, duration: options.maxSeconds, timeout: 60, requests }, (error, outcome) => {
      if (error) reject(error);
      else {
        result = outcome;
        resolve();
      }
    });
    instance.on("reqError", (error) => failures.push({ at: since(), what: `connection error: ${error.message}` }));
    stopper = () => instance.stop();
  });
  return {
    failuresSoFar: () => failures.length,
    acknowledgedSoFar: () => acknowledgedUploads,
    async stop() {
      windingDown = true;
      for (let waited = 0; waited < 120_000 && uploadsInFlight.size > 0; waited += 100) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      stopper();
      await done;
      const seconds = since();
      const errorsCounted = failures.filter((f) => f.what.startsWith("connection error")).length;
      // autocannon counts timeouts (and errors it emitted no event for) only in its result
      const extra = Math.max(0, (result?.errors ?? 0) + (result?.timeouts ?? 0) - errorsCounted);
      for (let i = 0; i < extra; i += 1) failures.push({ at: seconds, what: "timeout or error (autocannon's count)" });
      const first = failures.at(0)?.at ?? 0;
      const last = failures.reduce((max, f) => Math.max(max, f.at), 0);
      return {
        seconds,
        sent: sent + extra,
        ok,
        refused,
        failures,
        acknowledged,
        acknowledgedUploads,
        unacknowledgedUploads: Math.max(0, uploadsSent - acknowledgedUploads),
        mismatched,
        degradedSeconds: failures.length === 0 ? 0 : Math.max(last - first, 0),
      };
    },
  };
}
