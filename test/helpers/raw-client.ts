// HTTP requests for tests that need control over the connection: the local address they come from, headers, a body sent in parts.
import http from "node:http";

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

export interface RawRequest {
  method?: string;
  /** Local address to connect from (anything in 127.0.0.0/8 reaches a server on 127.0.0.1): another client. */
  from?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** A multipart/form-data body with one file in field "file", as a browser sends it. */
export function multipartFile(name: string, content: string | Buffer, boundary = "rawclientboundary"): { contentType: string; head: Buffer; tail: Buffer } {
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    head: Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: text/x-python\r\n\r\n`),
    tail: Buffer.concat([Buffer.from(content), Buffer.from(`\r\n--${boundary}--\r\n`)]),
  };
}

/** Starts a request; `finish` sends the rest of the body (if any was held back) and resolves with the answer. */
export function startRequest(url: string, path: string, options: RawRequest & { holdBack?: Buffer }) {
  let resolveAnswer!: (answer: RawAnswer) => void;
  let rejectAnswer!: (error: Error) => void;
  const answer = new Promise<RawAnswer>((resolve, reject) => {
    resolveAnswer = resolve;
    rejectAnswer = reject;
  });
  const body = options.body === undefined ? Buffer.alloc(0) : Buffer.from(options.body);
  const length = body.length + (options.holdBack?.length ?? 0);
  const req = http.request(`${url}${path}`, {
    method: options.method ?? "POST",
    agent: false,
    localAddress: options.from,
    headers: { ...options.headers, "content-length": String(length) },
  });
  req.on("response", (res) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => (text += chunk));
    res.on("end", () => {
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: kept as text
      }
      resolveAnswer({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
    });
  });
  req.on("error", rejectAnswer);
  req.write(body);
  if (!options.holdBack) req.end();
  return {
    answer,
    finish(): Promise<RawAnswer> {
      if (options.holdBack) req.end(options.holdBack);
      return answer;
    },
    abort(): void {
      req.destroy();
    },
  };
}

/** Uploads one file to /api/analyze from the given local address, with extra headers (e.g. X-Forwarded-For). */
export function uploadFrom(url: string, name: string, content: string, options: { from?: string; headers?: Record<string, string> } = {}): Promise<RawAnswer> {
  const form = multipartFile(name, content);
  return startRequest(url, "/api/analyze", { from: options.from, headers: { ...options.headers, "content-type": form.contentType }, body: Buffer.concat([form.head, form.tail]) }).answer;
}

/** An upload whose body is held back: it counts as in flight for its client until finish(). */
export function heldUpload(url: string, name: string, content: string, options: { from?: string; headers?: Record<string, string> } = {}) {
  const form = multipartFile(name, content);
  return startRequest(url, "/api/analyze", { from: options.from, headers: { ...options.headers, "content-type": form.contentType }, body: form.head, holdBack: form.tail });
}
