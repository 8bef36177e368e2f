// What the page suites share: the real server on a free port with a temp DATA_DIR, Chromium's launch settings, a watch on console errors and CSP violations, and axe-core's WCAG 2.1 AA check.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ConsoleMessage, Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

export const inCI = process.env.CI === "true";
export const haveChromium = existsSync(CHROMIUM);
export const skip = haveChromium || inCI ? false : `${CHROMIUM} not found: install it (apt-get install -y chromium) to run the page test`;

// ---------------------------------------------------------------- the server

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

export interface RunningServer {
  base: string;
  /** The server process, e.g. to find its analyzer processes. */
  pid: number;
  output: () => string;
  stop: () => Promise<void>;
}

export async function startServer(extraEnv: Record<string, string> = {}): Promise<RunningServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "codedetect-web-test-"));
  const port = await freePort();
  let output = "";
  const child: ChildProcess = spawn(process.execPath, ["server/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir, LOG_LEVEL: "warn", DRAIN_SECONDS: "0", APP_VERSION: "9.9.9-page-test", INSTANCE_ID: "i-pagetest", ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      const killed = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 15_000)))]);
      clearTimeout(timer);
      if (!killed) {
        child.kill("SIGKILL");
        await exited;
      }
    }
    await rm(dataDir, { recursive: true, force: true });
  };

  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  let lastStatus = "";
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`the server exited (${child.exitCode ?? child.signalCode}) before answering /api/health:\n${output}`);
    }
    try {
      const res = await fetch(`${base}/api/health`, { signal: AbortSignal.timeout(2_000) });
      const body = (await res.json()) as { status?: string };
      lastStatus = `${res.status} ${body.status}`;
      // It answers as soon as it listens; the analyzers may need a moment to report healthy.
      if (body.status === "healthy") break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the server did not become healthy within 60 s (last /api/health: ${lastStatus || "no answer"}):\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { base, pid: child.pid ?? 0, output: () => output, stop };
}

export async function getJson<T>(base: string, pathname: string): Promise<T> {
  const res = await fetch(base + pathname);
  assert.equal(res.status, 200, `GET ${pathname} answered ${res.status}`);
  return (await res.json()) as T;
}

export async function postFile(base: string, name: string, bytes: Uint8Array<ArrayBuffer>): Promise<{ status: number; body: { error?: string } }> {
  const form = new FormData();
  form.append("file", new Blob([bytes]), name);
  const res = await fetch(`${base}/api/analyze`, { method: "POST", body: form });
  return { status: res.status, body: (await res.json()) as { error?: string } };
}

// ---------------------------------------------------------------- the page

export interface PageWatch {
  problems: string[];
  /** Console errors that are the expected echo of a 4xx answer to an upload the test made fail on purpose. */
  expectedUploadErrors: number;
  allowUploadErrors: boolean;
}

/** Records console errors and warnings, uncaught errors and CSP violations. */
export async function watch(page: Page): Promise<PageWatch> {
  const state: PageWatch = { problems: [], expectedUploadErrors: 0, allowUploadErrors: false };
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
  page.on("console", (msg: ConsoleMessage) => {
    if (msg.type() !== "error" && msg.type() !== "warning") return;
    const where = msg.location().url;
    if (state.allowUploadErrors && where.endsWith("/api/analyze") && /status of 4\d\d/.test(msg.text())) {
      state.expectedUploadErrors += 1;
      return;
    }
    state.problems.push(`console ${msg.type()}: ${msg.text()} (${where})`);
  });
  page.on("pageerror", (error) => state.problems.push(`page error: ${error.message}`));
  page.on("requestfailed", (req) => {
    if (!req.url().startsWith("blob:")) state.problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`);
  });
  return state;
}

export const text = async (page: Page, selector: string) => ((await page.textContent(selector)) ?? "").trim();


/** Waits until keyboard focus is on `id` and that element is inside the viewport (smooth scrolling may still run). */
export async function focusSettlesOn(page: Page, id: string) {
  await page.waitForFunction((want) => {
    const el = document.activeElement;
    if (!el || el.id !== want) return false;
    const box = el.getBoundingClientRect();
    return box.top >= 0 && box.bottom <= window.innerHeight;
  }, id, { timeout: 10_000 });
}

// ---------------------------------------------------------------- accessibility

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
export const LAYOUTS = [
  { width: 1280, height: 900 },
  { width: 390, height: 844 },
] as const;
export const SCHEMES = ["light", "dark"] as const;

/**
 * axe-core's WCAG 2.1 A/AA violations on the page as it is now, at each width and in each colour scheme; fails
 * listing them. The page's CSP allows no inline script, so axe's source goes in through page.evaluate (the
 * DevTools protocol, which the CSP does not govern), not a <script> tag.
 */
export async function assertNoAxeViolations(page: Page, state: string): Promise<void> {
  const original = page.viewportSize();
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(AXE_SOURCE);
  const found: string[] = [];
  for (const layout of LAYOUTS) {
    await page.setViewportSize(layout);
    for (const colorScheme of SCHEMES) {
      // reduced motion turns the page's colour transitions off, so axe reads the scheme's colours, not a blend
      await page.emulateMedia({ colorScheme, reducedMotion: "reduce" });
      const violations = await page.evaluate(async (tags) => {
        const axe = (window as unknown as { axe: { run: (ctx: Document, o: object) => Promise<{ violations: Array<{ id: string; nodes: Array<{ target: unknown; failureSummary?: string }> }> }> } }).axe;
        const result = await axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] });
        return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => `${JSON.stringify(n.target)} ${n.failureSummary ?? ""}`).join(" | ")}`);
      }, WCAG_21_AA);
      for (const v of violations) found.push(`[${state}, ${layout.width}px, ${colorScheme}] ${v}`);
    }
  }
  await page.emulateMedia({ colorScheme: "light", reducedMotion: null });
  if (original) await page.setViewportSize(original);
  assert.deepEqual(found, [], `axe-core found WCAG 2.1 AA violations:\n${found.join("\n")}`);
}
