// A hostile client with many loopback addresses, for the tests and the bench: held uploads, pipelined reads never read, re-sent files, and the server's memory meanwhile.
import fs from "node:fs";
import http from "node:http";
import net from "node:net";

export const MiB = 1024 * 1024;

/** The resident memory of a process (Linux /proc), in bytes. */
export function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

/** Samples a process's memory until stopped; `ceiling` is called (once) when it passes ceilingBytes. */
export function sampleRss(pid: number, options: { everyMs?: number; ceilingBytes?: number; ceiling?: () => void } = {}) {
  let peak = rssBytes(pid);
  let tripped = false;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {
      return; // the process ended
    }
    if (!tripped && options.ceilingBytes !== undefined && peak > options.ceilingBytes) {
      tripped = true;
      options.ceiling?.();
    }
  }, options.everyMs ?? 100);
  return {
    get peak() {
      return peak;
    },
    get tripped() {
      return tripped;
    },
    stop(): number {
      clearInterval(timer);
      return peak;
    },
  };
}

/** The i-th loopback client address of n, from 127.0.0.2 on (any address in 127.0.0.0/8 reaches a server on 127.0.0.1). */
export const loopback = (i: number): string => `127.0.${Math.floor(i / 250)}.${(i % 250) + 2}`;

/** A multipart upload of `content` under `name`, split into its head (with the request line) and its body. */
export function multipartRequest(name: string, content: Buffer, headers: Record<string, string> = {}): { head: Buffer; body: Buffer[] } {
  const boundary = "hostileloadboundary";
  const open = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: text/x-python\r\n\r\n`);
  const close = Buffer.from(`\r\n--${boundary}--\r\n`);
  const length = open.length + content.length + close.length;
  const extra = Object.entries(headers).map(([key, value]) => `${key}: ${value}\r\n`).join("");
  const head = Buffer.from(`POST /api/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${length}\r\n${extra}\r\n`);
  return { head, body: [open, content, close] };
}

export interface HeadOfAnswer {
  status: number;
  headers: Record<string, string>;
}

function parseHead(text: string): HeadOfAnswer {
  const [statusLine = "", ...lines] = text.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0), headers };
}

/**
 * Uploads of `content` from `addresses` round robin, each sent but for its last bytes and then held open. Settles
 * once every upload was either answered (refused) or fully handed to the kernel; release() closes them all.
 */
export function holdUploads(port: number, count: number, addresses: number, content: Buffer) {
  const sockets: net.Socket[] = [];
  const answers: HeadOfAnswer[] = [];
  const settled = Array.from({ length: count }, (_, i) => {
    const { head, body } = multipartRequest(`held-${i}.py`, content);
    const all = Buffer.concat([head, ...body.slice(0, 1)]);
    return new Promise<void>((resolve) => {
      const socket = net.connect({ port, host: "127.0.0.1", localAddress: loopback(i % addresses) });
      sockets.push(socket);
      let received = "";
      let answered = false;
      socket.on("data", (chunk: Buffer) => {
        if (answered) return;
        received += chunk.toString("latin1");
        const end = received.indexOf("\r\n\r\n");
        if (end < 0) return;
        answered = true;
        answers.push(parseHead(received.slice(0, end)));
        resolve();
      });
      socket.on("error", () => resolve());
      socket.on("close", () => resolve());
      socket.write(all);
      // all but the last 64 bytes of the file: the upload stays incomplete
      socket.write(content.subarray(0, content.length - 64), () => resolve());
    });
  });
  return {
    settled: Promise.all(settled),
    answers,
    release(): void {
      for (const socket of sockets) socket.destroy();
    },
  };
}

/**
 * `count` requests for `path` sent at once on one connection from `from`, whose answers are never read. `closed`
 * resolves when the server has closed the connection (seen by a two-byte write failing; an empty line between
 * requests is allowed by HTTP), or with false after guardMs.
 */
export function pipelineUnread(port: number, path: string, count: number, from: string, guardMs: number) {
  const socket = net.connect({ port, host: "127.0.0.1", localAddress: from });
  socket.pause();
  const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
  socket.write(request.repeat(count));
  let finish = (_value: boolean) => undefined as void;
  const closed = new Promise<boolean>((resolve) => {
    const guard = setTimeout(() => finish(false), guardMs);
    const probe = setInterval(() => socket.write("\r\n"), 250);
    finish = (value: boolean) => {
      clearTimeout(guard);
      clearInterval(probe);
      socket.destroy();
      resolve(value);
    };
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
  });
  return {
    closed,
    /** Closes it from this side (closed then resolves false). */
    abort: () => finish(false),
  };
}

/**
 * GET `path` and read the answer at `bytesPerSecond`, never stalling for long: what a client that trickles reads gets.
 * Resolves once the connection ends (cut by the server, or the whole body read): the body's announced and received bytes.
 */
export function readTrickle(port: number, path: string, from: string, bytesPerSecond: number, guardMs: number): Promise<{ contentLength: number; received: number; whole: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress: from });
    const started = Date.now();
    let head = "";
    let contentLength = Number.NaN;
    let received = 0;
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error(`still reading after ${guardMs} ms: ${received} of ${contentLength} bytes`));
    }, guardMs);
    const done = () => {
      clearTimeout(guard);
      socket.destroy();
      resolve({ contentLength, received, whole: received >= contentLength });
    };
    socket.on("data", (chunk: Buffer) => {
      if (Number.isNaN(contentLength)) {
        head += chunk.toString("latin1");
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        contentLength = Number(parseHead(head.slice(0, end)).headers["content-length"]);
        received = Buffer.byteLength(head.slice(end + 4), "latin1");
      } else {
        received += chunk.length;
      }
      if (received >= contentLength) return done();
      const ahead = received / bytesPerSecond - (Date.now() - started) / 1000;
      if (ahead > 0) {
        socket.pause();
        setTimeout(() => socket.resume(), ahead * 1000);
      }
    });
    socket.on("error", done);
    socket.on("close", done);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  });
}

/** Sends one request's bytes and reads the answer without keeping its body: status, headers and the body's size. */
export function sendCounting(port: number, parts: Buffer[], from: string): Promise<HeadOfAnswer & { bodyBytes: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress: from });
    let head = "";
    let answer: HeadOfAnswer | null = null;
    let bodyBytes = 0;
    let tail = "";
    socket.on("data", (chunk: Buffer) => {
      if (!answer) {
        head += chunk.toString("latin1");
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        answer = parseHead(head.slice(0, end));
        tail = head.slice(end + 4);
        bodyBytes = Buffer.byteLength(tail, "latin1");
      } else {
        bodyBytes += chunk.length;
        tail = (tail + chunk.toString("latin1")).slice(-5);
      }
      // a chunked body (a compressed answer) ends with its last, empty chunk; its size counts the chunks' framing
      const chunkedEnd = answer.headers["transfer-encoding"] === "chunked" && tail.endsWith("0\r\n\r\n");
      if (chunkedEnd || bodyBytes >= Number(answer.headers["content-length"] ?? Infinity)) {
        socket.destroy();
        resolve({ ...answer, bodyBytes });
      }
    });
    socket.on("error", reject);
    socket.on("close", () => (answer ? resolve({ ...answer, bodyBytes }) : reject(new Error("closed without an answer"))));
    for (const part of parts) socket.write(part);
  });
}

/** The status of the answer to one request from `from`, the connection closed as soon as its head is read; a hung server rejects after guardMs. */
export function statusOf(port: number, request: string, from: string, guardMs = 15_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress: from });
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${guardMs} ms`));
    }, guardMs);
    let head = "";
    socket.on("data", (chunk: Buffer) => {
      head += chunk.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      clearTimeout(guard);
      socket.destroy();
      resolve(parseHead(head).status);
    });
    socket.on("error", (error) => {
      clearTimeout(guard);
      reject(error);
    });
    socket.write(request);
  });
}

/** Asks /api/health every everyMs until stopped, each on a new connection; the slowest answer and every status seen. */
export function probeHealth(port: number, everyMs = 200) {
  const latencies: number[] = [];
  const statuses: number[] = [];
  let running = true;
  const once = () =>
    new Promise<void>((resolve) => {
      const start = performance.now();
      const req = http.get({ port, host: "127.0.0.1", path: "/api/health", agent: false, timeout: 30_000 }, (res) => {
        res.resume();
        res.on("end", () => {
          latencies.push(performance.now() - start);
          statuses.push(res.statusCode ?? 0);
          resolve();
        });
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", () => {
        latencies.push(performance.now() - start);
        statuses.push(0);
        resolve();
      });
    });
  const loop = (async () => {
    while (running) {
      await once();
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    async stop(): Promise<{ maxMs: number; statuses: number[] }> {
      running = false;
      await loop;
      return { maxMs: Math.max(0, ...latencies), statuses };
    },
  };
}

/** A valid Python file of `bytes` bytes: one comment made of \x01 (each escapes to six bytes in JSON). */
export function controlCharacterFile(bytes: number): Buffer {
  const content = Buffer.alloc(bytes, 1);
  content.write("# ", 0, "latin1");
  content[bytes - 1] = 0x0a;
  return content;
}
