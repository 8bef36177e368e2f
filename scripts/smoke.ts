// `npm run smoke -- URL`: health, one real analysis, its stored result and the stats; exit 0 only when the service works end to end.
import { randomUUID } from "node:crypto";

const USAGE = "usage: npm run smoke -- URL   (e.g. https://codedetect.example.com or the stack's Url output)";
const REQUEST_TIMEOUT_MS = 70_000;

class StepFailed extends Error {
  override name = "StepFailed";
}

async function call(url: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, redirect: "follow", signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new StepFailed(`cannot reach ${url}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    throw new StepFailed(`${url} answered ${response.status} with something that is not JSON: ${text.slice(0, 80).replace(/\s+/g, " ")}`);
  }
}

function expect(condition: boolean, message: string): void {
  if (!condition) throw new StepFailed(message);
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  let base: URL;
  try {
    if (args.length !== 1 || args[0]!.startsWith("-")) throw new Error("give exactly one URL");
    // The stack's LoadBalancerDnsName output has no scheme: say how to give it rather than "Invalid URL".
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(args[0]!)) throw new Error(`"${args[0]}" has no scheme; give http://${args[0]} or https://${args[0]}`);
    base = new URL(args[0]!);
    if (base.protocol !== "http:" && base.protocol !== "https:") throw new Error(`${base.protocol} is not http or https`);
  } catch (error) {
    process.stderr.write(`smoke: ${(error as Error).message}; ${USAGE}\n`);
    return 2;
  }
  const at = (pathname: string) => new URL(pathname, base).toString();
  // A fresh source each run, so the analysis is really performed (not answered from a stored result).
  const marker = randomUUID().replaceAll("-", "");
  const source = `"""Smoke test ${marker}."""\n\n\ndef add(first, second):\n    """Add two numbers."""\n    return first + second\n`;
  let hash = "";
  let before = 0;
  const steps: [string, () => Promise<string>][] = [
    ["health", async () => {
      const { status, body } = await call(at("/api/health"));
      expect(status === 200 && body.status === "healthy", `GET /api/health answered ${status} ${JSON.stringify(body.status)}, not 200 "healthy"`);
      return `version ${body.version}`;
    }],
    ["stats before", async () => {
      const { status, body } = await call(at("/api/stats"));
      expect(status === 200 && Number.isInteger(body.total_analyses), `GET /api/stats answered ${status} without total_analyses`);
      before = body.total_analyses;
      return `${before} analyses so far`;
    }],
    ["analyze", async () => {
      const form = new FormData();
      form.append("file", new Blob([source], { type: "text/x-python" }), `smoke_${marker.slice(0, 8)}.py`);
      const { status, body } = await call(at("/api/analyze"), { method: "POST", body: form });
      expect(status === 200, `POST /api/analyze answered ${status}: ${body.error ?? JSON.stringify(body).slice(0, 120)}`);
      expect(typeof body.score === "number" && /^[0-9a-f]{64}$/.test(body.file_hash ?? ""), `POST /api/analyze answered 200 without a score and file_hash: ${JSON.stringify(body).slice(0, 120)}`);
      hash = body.file_hash;
      return `score ${body.score}`;
    }],
    ["stored result", async () => {
      const { status } = await call(at(`/api/analysis/${hash}`));
      expect(status === 200, `GET /api/analysis/${hash} answered ${status}: the result was not stored (or another instance cannot see it)`);
      return "readable";
    }],
    ["stats after", async () => {
      const { status, body } = await call(at("/api/stats"));
      expect(status === 200 && body.total_analyses >= before + 1, `total_analyses went from ${before} to ${body.total_analyses}: the analysis was not counted`);
      return `${body.total_analyses} analyses`;
    }],
  ];
  for (const [name, run] of steps) {
    const started = Date.now();
    try {
      const note = await run();
      process.stdout.write(`ok    ${name.padEnd(13)} ${note} (${Date.now() - started} ms)\n`);
    } catch (error) {
      if (!(error instanceof StepFailed)) throw error;
      process.stdout.write(`FAIL  ${name.padEnd(13)} ${error.message}\n`);
      process.stderr.write(`smoke: ${name}: ${error.message}\n`);
      return 1;
    }
  }
  process.stdout.write(`the service at ${base.origin} works\n`);
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (error: Error) => {
    process.stderr.write(`smoke: ${error.message}\n`);
    process.exitCode = 1;
  },
);
