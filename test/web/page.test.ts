// End-to-end test of the web page: starts the real server (temp DATA_DIR, free port) and drives the page in headless Chromium; skips without /usr/bin/chromium, except under CI.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type ConsoleMessage, type Page } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SCREENSHOT = "/tmp/codedetect-page.png";
const SCREENSHOT_MOBILE = "/tmp/codedetect-page-mobile.png";
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

const inCI = process.env.CI === "true";
const haveChromium = existsSync(CHROMIUM);
const skip = haveChromium || inCI ? false : `${CHROMIUM} not found: install it (apt-get install -y chromium) to run the page test`;

// Uploaded through the file input: an unused import (pylint), shell=True (bandit HIGH), a rank-C function (radon),
// and markup in a string that must stay text on the page.
const INPUT_FILE = {
  name: "sample_upload.py",
  code: `"""Uploaded through the file input by the page test."""
import os
import subprocess

MARKUP = "<img src=x onerror=alert(1)>"


def run(cmd):
    """Run a shell command."""
    return subprocess.call(cmd, shell=True)


def classify(value):
    """Deliberately branchy function."""
    if value == 1:
        return "one"
    elif value == 2:
        return "two"
    elif value == 3:
        return "three"
    elif value == 4:
        return "four"
    elif value == 5:
        return "five"
    elif value == 6:
        return "six"
    elif value == 7:
        return "seven"
    elif value == 8:
        return "eight"
    elif value == 9:
        return "nine"
    elif value == 10:
        return "ten"
    elif value == 11:
        return "eleven"
    return "many"
`,
};

// Dropped on the drop zone: pickle (bandit) and an undefined name (pylint error).
const DROPPED_FILE = {
  name: "dropped_module.py",
  code: `"""Dropped on the page by the page test."""
import pickle


def load(blob):
    """Unpickle untrusted data."""
    return pickle.loads(blob)


def broken():
    """Uses a name that does not exist."""
    return undefined_name + 1
`,
};

interface Finding {
  symbol?: string;
  test_id?: string;
}
interface AnalysisResult {
  filename: string;
  file_hash: string;
  score: number;
  analysis: {
    quality_issues: Finding[];
    security_issues: Array<Finding & { more_info: string }>;
    complexity: Record<string, Array<{ name: string; rank: string; complexity: number }> | { error: string }>;
  };
  summary: { total_issues: number; security_issues: number; high_complexity_functions: number };
}
interface Stats {
  total_analyses: number;
  avg_score: number;
  trend_data: Array<{ label: string; score: number }>;
}

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

interface RunningServer {
  base: string;
  output: () => string;
  stop: () => Promise<void>;
}

async function startServer(): Promise<RunningServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "codedetect-web-test-"));
  const port = await freePort();
  let output = "";
  const child: ChildProcess = spawn(process.execPath, ["server/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir, LOG_LEVEL: "warn", DRAIN_SECONDS: "0", APP_VERSION: "9.9.9-page-test", INSTANCE_ID: "i-pagetest" },
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
  return { base, output: () => output, stop };
}

async function getJson<T>(base: string, pathname: string): Promise<T> {
  const res = await fetch(base + pathname);
  assert.equal(res.status, 200, `GET ${pathname} answered ${res.status}`);
  return (await res.json()) as T;
}

async function postFile(base: string, name: string, bytes: Uint8Array<ArrayBuffer>): Promise<{ status: number; body: { error?: string } }> {
  const form = new FormData();
  form.append("file", new Blob([bytes]), name);
  const res = await fetch(`${base}/api/analyze`, { method: "POST", body: form });
  return { status: res.status, body: (await res.json()) as { error?: string } };
}

// ---------------------------------------------------------------- the page

interface PageWatch {
  problems: string[];
  /** Console errors that are the expected echo of a 4xx answer to an upload the test made fail on purpose. */
  expectedUploadErrors: number;
  allowUploadErrors: boolean;
}

/** Records console errors and warnings, uncaught errors and CSP violations. */
async function watch(page: Page): Promise<PageWatch> {
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

const text = async (page: Page, selector: string) => ((await page.textContent(selector)) ?? "").trim();

/** Everything the result section shows about one analysis, compared with the stored analysis. */
async function assertResultMatches(page: Page, api: AnalysisResult) {
  assert.equal(await text(page, "#result-heading"), `Result for ${api.filename}`);
  assert.equal(await text(page, "#result-hash"), api.file_hash);
  assert.equal(Number(await text(page, "#score-value")), api.score, "the score on the page is the API's score");
  const band = api.score >= 80 ? "good" : api.score >= 50 ? "fair" : "poor";
  assert.equal(await page.getAttribute("#score", "data-band"), band);

  const count = async (id: string) => Number(await text(page, `#${id} .count`));
  assert.equal(await count("summary-quality"), api.summary.total_issues);
  assert.equal(await count("summary-security"), api.summary.security_issues);
  assert.equal(await count("summary-complexity"), api.summary.high_complexity_functions);

  assert.equal(await page.locator("#quality-body tbody tr").count(), api.analysis.quality_issues.length);
  assert.equal(await page.locator("#security-body tbody tr").count(), api.analysis.security_issues.length);
  const entries = Object.values(api.analysis.complexity).flatMap((v) => (Array.isArray(v) ? v : []));
  assert.equal(await page.locator("#complexity-body tbody tr").count(), entries.length);

  const qualityText = await text(page, "#quality-body");
  for (const q of api.analysis.quality_issues) assert.ok(qualityText.includes(q.symbol ?? "?"), `quality table shows ${q.symbol}`);
  const securityText = await text(page, "#security-body");
  for (const s of api.analysis.security_issues) {
    assert.ok(securityText.includes(s.test_id ?? "?"), `security table shows ${s.test_id}`);
    const link = page.locator(`#security-body a[href="${s.more_info}"]`).first();
    assert.equal(await link.getAttribute("target"), "_blank");
    assert.match((await link.getAttribute("rel")) ?? "", /\bnoopener\b/);
  }
  const complexityText = await text(page, "#complexity-body");
  for (const c of entries) assert.ok(complexityText.includes(c.name), `complexity table shows ${c.name}`);
}

async function analysisOnPage(page: Page, base: string, name: string): Promise<AnalysisResult> {
  await page.waitForFunction((n) => document.getElementById("result-heading")?.textContent === `Result for ${n}`, name, { timeout: 60_000 });
  const hash = await text(page, "#result-hash");
  assert.match(hash, /^[0-9a-f]{64}$/);
  return getJson<AnalysisResult>(base, `/api/analysis/${hash}`);
}

async function dashboardShows(page: Page, total: number) {
  await page.waitForFunction((t) => document.getElementById("stat-total")?.textContent === String(t), total, { timeout: 15_000 });
}

// ---------------------------------------------------------------- the test

test("the page analyzes uploaded and dropped files, shows the dashboard, downloads a report and shows errors", { skip, timeout: 240_000 }, async (t: TestContext) => {
  if (!haveChromium) assert.fail(`${CHROMIUM} is missing; CI must install Chromium (apt-get install -y chromium) to run the page test`);

  const server = await startServer();
  let browser: Browser | undefined;
  t.after(async () => {
    await browser?.close();
    await server.stop();
  });
  const { base } = server;

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  // Playwright turns file-chooser interception on without waiting for it: turn it on now, long before the chooser opens.
  page.on("filechooser", () => {});
  const watched = await watch(page);
  const analyzeRequests: string[] = [];
  page.on("request", (req) => {
    if (req.url().endsWith("/api/analyze")) analyzeRequests.push(req.method());
  });

  await t.test("loads under the CSP with the dashboard and the deployment panel filled", async () => {
    const res = await page.goto(`${base}/`);
    assert.equal(res?.status(), 200);
    assert.match(res?.headers()["content-security-policy"] ?? "", /script-src 'self'/);
    assert.equal(await page.evaluate(() => document.compatMode), "CSS1Compat", "standards mode");
    await page.waitForSelector("#dashboard[data-loaded]");
    const stats = await getJson<Stats>(base, "/api/stats");
    assert.equal(stats.total_analyses, 0);
    assert.equal(await text(page, "#stat-total"), "0");
    assert.match(await text(page, "#trend-chart"), /No analyses yet/);

    const info = await getJson<{ version: string }>(base, "/api/info");
    await page.waitForFunction(() => document.querySelector('#deployment-info [data-key="version"] dd')?.textContent !== "–");
    assert.equal(await text(page, '#deployment-info [data-key="version"] dd'), info.version);
    assert.equal(await text(page, '#deployment-info [data-key="instance_id"] dd'), "i-pagetest");
    assert.equal(await text(page, '#deployment-info [data-key="image_digest"] dd'), "—", "an unset value shows a dash");
    await page.waitForFunction(() => document.getElementById("health-status")?.textContent === "Healthy");
    assert.equal(await text(page, "#footer-version"), `v${info.version}`);
  });

  let uploaded: AnalysisResult | undefined;
  await t.test("a file chosen with the file input is analyzed and shown, with a busy state meanwhile", async () => {
    // Hold the request until the busy state has been seen, then let it through to the real server.
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    await page.route("**/api/analyze", async (route) => {
      await gate;
      await route.continue();
    });
    await page.setInputFiles("#file-input", { name: INPUT_FILE.name, mimeType: "text/x-python", buffer: Buffer.from(INPUT_FILE.code) });
    await page.waitForSelector("#progress:not([hidden])");
    assert.equal(await page.isDisabled("#choose-button"), true);
    assert.equal(await text(page, "#choose-button"), "Analyzing…");
    assert.equal(await page.getAttribute("#upload", "aria-busy"), "true");
    release();
    uploaded = await analysisOnPage(page, base, INPUT_FILE.name);
    await page.unroute("**/api/analyze");

    assert.equal(await page.isDisabled("#choose-button"), false);
    assert.equal(await page.isHidden("#progress"), true);
    await assertResultMatches(page, uploaded);
    assert.ok(uploaded.analysis.quality_issues.some((q) => q.symbol === "unused-import"), "pylint found the unused import");
    assert.ok(uploaded.analysis.security_issues.some((s) => s.test_id === "B602"), "bandit found shell=True");
    assert.match(await text(page, "#complexity-body"), /classify.*C\s*12/s);
    assert.match(await text(page, "#upload-status"), new RegExp(`score ${uploaded.score} out of 100`));

    // The uploaded code is shown as text: the markup in it creates no element.
    await page.click("#code-summary");
    await page.waitForFunction(() => (document.getElementById("code-text")?.textContent ?? "") !== ""); // filled on 'toggle'
    assert.ok((await text(page, "#code-text")).includes('MARKUP = "<img src=x onerror=alert(1)>"'));
    assert.equal(await page.locator("main img").count(), 0);

    await dashboardShows(page, 1);
    const stats = await getJson<Stats>(base, "/api/stats");
    assert.equal(stats.total_analyses, 1);
    assert.equal(await text(page, "#stat-avg"), stats.avg_score.toFixed(1));
  });

  let dropped: AnalysisResult | undefined;
  await t.test("a file dropped on the drop zone is analyzed and the dashboard trend grows", async () => {
    const highlighted = await page.evaluate(({ name, code }) => {
      const zone = document.getElementById("drop-zone");
      if (!zone) throw new Error("no drop zone");
      const data = new DataTransfer();
      data.items.add(new File([code], name, { type: "text/x-python" }));
      const fire = (type: string) => zone.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
      fire("dragenter");
      fire("dragover");
      const on = zone.classList.contains("dragover");
      fire("drop");
      return on && !zone.classList.contains("dragover");
    }, DROPPED_FILE);
    assert.ok(highlighted, "the zone is highlighted while a file is dragged over it, and not after the drop");

    dropped = await analysisOnPage(page, base, DROPPED_FILE.name);
    await assertResultMatches(page, dropped);
    assert.ok(dropped.analysis.security_issues.length > 0, "bandit found the pickle use");

    await dashboardShows(page, 2);
    const stats = await getJson<Stats>(base, "/api/stats");
    assert.equal(stats.total_analyses, 2);
    const points = await page.$$eval("#trend-chart g.point", (gs) => gs.map((g) => ({ label: g.getAttribute("data-label"), score: Number(g.getAttribute("data-score")) })));
    assert.deepEqual(points, stats.trend_data.map((p) => ({ label: p.label, score: p.score })));
    assert.deepEqual(points.map((p) => p.label), ["Analysis #1", "Analysis #2"]);
    assert.deepEqual(points.map((p) => p.score), [uploaded?.score, dropped.score]);
  });

  await t.test("the report download holds the score and the findings", async () => {
    assert.ok(dropped);
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download-button")]);
    assert.equal(download.suggestedFilename(), "dropped_module-report.txt");
    const file = await download.path();
    const report = await readFile(file, "utf8");
    assert.match(report, new RegExp(`^Score:\\s+${dropped.score}/100$`, "m"));
    assert.ok(report.includes(`File:       ${DROPPED_FILE.name}`));
    assert.ok(report.includes(dropped.file_hash));
    const firstSecurity = dropped.analysis.security_issues[0]?.test_id ?? "";
    assert.ok(firstSecurity && report.includes(firstSecurity), `the report lists ${firstSecurity}`);
    for (const q of dropped.analysis.quality_issues) assert.ok(report.includes(q.symbol ?? "?"), `the report lists ${q.symbol}`);
  });

  await t.test("errors are shown as readable messages", async () => {
    // Checked in the page: a .txt file never leaves the browser.
    const before = analyzeRequests.length;
    await page.setInputFiles("#file-input", { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("hello\n") });
    await page.waitForSelector("#upload-error:not([hidden])");
    assert.match(await text(page, "#upload-error"), /Only \.py files are allowed: “notes\.txt” is not a Python file\./);
    assert.equal(analyzeRequests.length, before, "no request for a .txt file");

    // Checked in the page: over 5 MB, chosen from the keyboard through the file chooser.
    await page.focus("#choose-button");
    const [chooser] = await Promise.all([page.waitForEvent("filechooser"), page.keyboard.press("Enter")]);
    await chooser.setFiles({ name: "huge.py", mimeType: "text/x-python", buffer: Buffer.alloc(5 * 1024 * 1024 + 1, 0x23) });
    await page.waitForFunction(() => document.getElementById("upload-error")?.textContent?.includes("huge.py"));
    assert.match(await text(page, "#upload-error"), /“huge\.py” is 5\.0 MB; files may be at most 5 MB\./);

    // Checked in the page: two files dropped at once.
    await page.evaluate(() => {
      const data = new DataTransfer();
      for (const name of ["a.py", "b.py"]) data.items.add(new File(["x = 1\n"], name));
      document.getElementById("drop-zone")?.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
    });
    assert.match(await text(page, "#upload-error"), /one file at a time \(2 were given\)/);
    assert.equal(analyzeRequests.length, before, "no request for a file the page refused");

    // Decided by the server: a .py file that is not UTF-8. The page shows the server's own message.
    watched.allowUploadErrors = true;
    const latin1 = Uint8Array.from([...Buffer.from("# caf"), 0xe9, 0x0a, ...Buffer.from("x = 1\n")]);
    const server400 = await postFile(base, "latin1.py", latin1);
    assert.equal(server400.status, 400);
    assert.ok(server400.body.error, "the server explains the rejection");
    await page.setInputFiles("#file-input", { name: "latin1.py", mimeType: "text/x-python", buffer: Buffer.from(latin1) });
    await page.waitForFunction((msg) => document.getElementById("upload-error")?.textContent?.includes(msg), server400.body.error);
    const shown = await text(page, "#upload-error");
    assert.ok(!/\[object |Traceback|\bat \S+:\d+/.test(shown), `no raw object or stack: ${shown}`);
    assert.equal(analyzeRequests.length, before + 1);

    // A .py file with NUL bytes: also the server's call. (An empty .py is valid Python, analysed like any other.)
    const binary = Uint8Array.from([...Buffer.from("x = 1"), 0x00, 0x0a]);
    await page.setInputFiles("#file-input", { name: "binary.py", mimeType: "text/x-python", buffer: Buffer.from(binary) });
    const nul = await postFile(base, "binary.py", binary);
    assert.equal(nul.status, 400);
    assert.ok(nul.body.error, "the server explains the rejection");
    await page.waitForFunction((msg) => document.getElementById("upload-error")?.textContent?.includes(msg), nul.body.error);
    watched.allowUploadErrors = false;

    // The previous result stays on screen and the dashboard did not count the rejections.
    assert.equal(await text(page, "#result-heading"), `Result for ${DROPPED_FILE.name}`);
    assert.equal((await getJson<Stats>(base, "/api/stats")).total_analyses, 2);
  });

  await t.test("the feedback form validates, then sends", async () => {
    await page.fill("#fb-email", "not-an-email");
    await page.fill("#fb-message", "The trend chart is lovely.");
    await page.click("#fb-submit");
    assert.match(await text(page, "#fb-email-error"), /valid email/);
    assert.equal(await page.getAttribute("#fb-email", "aria-invalid"), "true");

    await page.fill("#fb-email", "tester@example.org");
    await page.selectOption("#fb-type", "feature");
    await page.click("#fb-submit");
    await page.waitForFunction(() => (document.getElementById("fb-status")?.textContent ?? "") !== "");
    assert.match(await text(page, "#fb-status"), /feature/i);
    assert.equal(await text(page, "#fb-email-error"), "");
    assert.equal(await page.inputValue("#fb-message"), "", "the form is cleared after sending");
  });

  await t.test("screenshots, and the narrow layout does not scroll sideways", async () => {
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone screen`);
    await page.screenshot({ path: SCREENSHOT_MOBILE, fullPage: true });
  });

  await t.test("no console errors, page errors or CSP violations", () => {
    assert.ok(watched.expectedUploadErrors <= 2, `unexpected count of 4xx upload echoes: ${watched.expectedUploadErrors}`);
    assert.deepEqual(watched.problems, []);
  });
});
