// End-to-end test of the web page: starts the real server (temp DATA_DIR, free port) and drives the page in headless Chromium, with axe-core's WCAG 2.1 AA check in each state; skips without /usr/bin/chromium, except under CI.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test, type TestContext } from "node:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { BUSY_ON_DEMAND, busyAnswerTests } from "./busy-answers.ts";
import { assertNoAxeViolations, CHROMIUM, CHROMIUM_ARGS, focusSettlesOn, getJson, haveChromium, postFile, skip, startServer, text, watch } from "./harness.ts";

const SCREENSHOT = "/tmp/codedetect-page.png";
const SCREENSHOT_MOBILE = "/tmp/codedetect-page-mobile.png";
/** The server's upload limit in this suite: not the default 5 MB, so the page must read it from /api/info. */
const MAX_UPLOAD_BYTES = 2 * 1024 * 1024;

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

// pylint prints 21 messages for it, in an order where only one of the first ten is an error: 3 errors
// (undefined names), 5 warnings, 1 refactor and 12 conventions.
const MANY_FILE = {
  name: "many_findings.py",
  code: `import os
import sys
import json


def Alpha(value):
    unused = 1
    return value + missing_one


def Beta(value):
    return value * missing_two


def Gamma(value):
    try:
        return value / 0
    except:
        return missing_three


class lower_case:
    def Method(self, X):
        return X
`,
};

const UNPARSEABLE_FILE = { name: "broken_syntax.py", code: "def broken(:\n    return 1\n" };

interface Finding {
  symbol?: string;
  test_id?: string;
  type?: string;
  line?: number;
}
interface AnalysisResult {
  filename: string;
  file_hash: string;
  score: number;
  parse_error: { message: string; line: number; column: number } | null;
  analysis: {
    quality_issues: Finding[];
    security_issues: Array<Finding & { more_info: string }>;
    complexity: Record<string, Array<{ name: string; rank: string; complexity: number }> | { error: string }>;
  };
  summary: { total_issues: number; security_issues: number; high_complexity_functions: number; quality_by_type: Record<string, number> };
}
interface Stats {
  total_analyses: number;
  avg_score: number;
  trend_data: Array<{ label: string; score: number }>;
}

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

  assert.equal(await page.locator("#quality-body tbody tr").count(), api.analysis.quality_issues.length, "every pylint message the API sent is shown");
  assert.equal(api.analysis.quality_issues.length, api.summary.total_issues, "the API sent every pylint message");
  assert.equal(await page.locator("#security-body tbody tr").count(), api.analysis.security_issues.length);
  const entries = Object.values(api.analysis.complexity).flatMap((v) => (Array.isArray(v) ? v : []));
  assert.equal(await page.locator("#complexity-body tbody tr").count(), entries.length);

  const qualityText = await text(page, "#quality-body");
  for (const q of api.analysis.quality_issues) {
    assert.ok(qualityText.includes(q.symbol ?? "?"), `quality table shows ${q.symbol}`);
    const href = `https://pylint.readthedocs.io/en/stable/user_guide/messages/${q.type}/${q.symbol}.html`;
    assert.ok((await page.locator(`#quality-body a[href="${href}"]`).count()) > 0, `${q.symbol} links to pylint's page for it`);
  }
  // grouped by type, most severe first, each group with its count
  const order = ["fatal", "error", "warning", "refactor", "convention", "info"];
  const groups = await page.$$eval("#quality-body .quality-group", (els) => els.map((el) => ({ type: el.getAttribute("data-type") ?? "", heading: el.querySelector("h4")?.textContent ?? "" })));
  assert.deepEqual(groups.map((g) => g.type), order.filter((t) => api.summary.quality_by_type[t]));
  for (const g of groups) assert.match(g.heading, new RegExp(` ${api.summary.quality_by_type[g.type]}$`), `the ${g.type} group says how many`);
  const securityText = await text(page, "#security-body");
  for (const s of api.analysis.security_issues) {
    assert.ok(securityText.includes(s.test_id ?? "?"), `security table shows ${s.test_id}`);
    const link = page.locator(`#security-body a[href="${s.more_info}"]`).first(); // bandit's own page for the test
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

/** The focused element's id, and whether it is inside the viewport (what a keyboard user looks at). */
async function focusedInView(page: Page): Promise<{ id: string; inView: boolean }> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    const box = el?.getBoundingClientRect();
    return { id: el?.id ?? "", inView: Boolean(box && box.top >= 0 && box.bottom <= window.innerHeight) };
  });
}

async function upload(page: Page, file: { name: string; code: string }) {
  await page.setInputFiles("#file-input", { name: file.name, mimeType: "text/x-python", buffer: Buffer.from(file.code) });
}

/** The `import` specifiers of a served module, resolved to /static/ paths. */
function importsOf(source: string): string[] {
  return [...source.matchAll(/^import\s[^'"]*['"]\.\/([\w.-]+\.js)['"]/gm)].map((m) => `/static/${m[1]}`);
}

// ---------------------------------------------------------------- the test

test("the page analyzes files, shows every finding grouped with how to fix it, keeps results and history, recovers from errors and busy answers, passes axe", { skip, timeout: 360_000 }, async (t: TestContext) => {
  if (!haveChromium) assert.fail(`${CHROMIUM} is missing; CI must install Chromium (apt-get install -y chromium) to run the page test`);

  const server = await startServer({
    MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
    ACTIVE_ENVIRONMENT: "green",
    DEPLOYED_BY: "page-test-pipeline",
    // with ANALYZER_MAX_WAIT_SECONDS 0 among them: no waiting in the line, yet an idle server analyses every upload at once
    ...BUSY_ON_DEMAND,
  });
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

  await t.test("loads under the CSP with the dashboard, the deployment panel and the server's upload limit", async () => {
    const res = await page.goto(`${base}/`);
    assert.equal(res?.status(), 200);
    assert.match(res?.headers()["content-security-policy"] ?? "", /script-src 'self'/);
    assert.equal(await page.evaluate(() => document.compatMode), "CSS1Compat", "standards mode");
    await page.waitForSelector("#dashboard[data-loaded]");
    const stats = await getJson<Stats>(base, "/api/stats");
    assert.equal(stats.total_analyses, 0);
    assert.equal(await text(page, "#stat-total"), "0");
    assert.match(await text(page, "#trend-chart"), /No analyses yet/);
    assert.equal(await page.getAttribute("#stats", "aria-live"), null, "the totals are not read out on every upload");

    const info = await getJson<{ version: string }>(base, "/api/info");
    await page.waitForFunction(() => document.querySelector('#deployment-info [data-key="version"] dd')?.textContent !== "–");
    assert.equal(await text(page, '#deployment-info [data-key="version"] dd'), info.version);
    assert.equal(await text(page, '#deployment-info [data-key="instance_id"] dd'), "i-pagetest");
    assert.equal(await text(page, '#deployment-info [data-key="active_environment"] dd'), "green");
    assert.equal(await text(page, '#deployment-info [data-key="deployed_by"] dd'), "page-test-pipeline");
    assert.equal(await text(page, '#deployment-info [data-key="image_digest"] dd'), "—", "an unset value shows a dash");
    await page.waitForFunction(() => document.getElementById("health-status")?.textContent === "Healthy");
    assert.equal(await text(page, "#footer-version"), `v${info.version}`);
    assert.match(await text(page, "#upload-hint"), /up to 2 MB\./, "the hint names the server's limit, not a hard-coded one");
    assert.match(await text(page, "#history-privacy"), /only in this browser/);
    await assertNoAxeViolations(page, "empty");

    // WCAG 1.4.11 (axe does not measure it): the keyboard focus ring against the colours around it, in both schemes
    await page.focus("#choose-button");
    await page.keyboard.press("Shift+Tab");
    await page.keyboard.press("Tab"); // focused from the keyboard: :focus-visible applies
    for (const colorScheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme, reducedMotion: "reduce" });
      const ratios = await page.evaluate(() => {
        const rgb = (css: string) => (css.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map(Number);
        const luminance = (css: string) => {
          const [r, g, b] = rgb(css).map((v) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4));
          return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
        };
        const ring = getComputedStyle(document.activeElement!).outlineColor;
        const around = ["#drop-zone", ".card", "body"].map((sel) => getComputedStyle(document.querySelector(sel)!).backgroundColor);
        return around.map((bg) => {
          const [a, b] = [luminance(ring), luminance(bg)].sort((x, y) => y - x);
          return Math.round(((a! + 0.05) / (b! + 0.05)) * 10) / 10;
        });
      });
      assert.ok(ratios.every((r) => r >= 3), `${colorScheme}: focus ring contrast against the drop zone, card and page: ${ratios.join(", ")}`);
    }
    await page.emulateMedia({ colorScheme: "light", reducedMotion: null });
  });

  await t.test("static files and JSON are compressed and revalidated; every module is preloaded; health stays plain", async () => {
    const html = await (await fetch(`${base}/`)).text();
    const preloaded = [...html.matchAll(/<link rel="modulepreload" href="([^"]+)">/g)].map((m) => m[1]);
    // every module app.js reaches through its imports is announced up front, so none waits for another's download
    const reached = new Set<string>();
    const pending = ["/static/app.js"];
    while (pending.length) {
      const next = pending.pop()!;
      for (const dep of importsOf(await (await fetch(base + next)).text())) if (!reached.has(dep)) pending.push(dep), reached.add(dep);
    }
    assert.deepEqual([...reached].sort(), [...preloaded].sort());

    const js = await fetch(`${base}/static/app.js`, { headers: { "Accept-Encoding": "br, gzip" } });
    assert.equal(js.headers.get("content-encoding"), "br");
    assert.match(js.headers.get("vary") ?? "", /Accept-Encoding/i);
    const etag = js.headers.get("etag") ?? "";
    const lastModified = js.headers.get("last-modified") ?? "";
    assert.ok(etag && lastModified, "validators are sent");
    await js.arrayBuffer();
    assert.equal((await fetch(`${base}/static/app.js`, { headers: { "If-None-Match": etag } })).status, 304);
    assert.equal((await fetch(`${base}/static/app.js`, { headers: { "If-Modified-Since": lastModified } })).status, 304);
    assert.equal((await fetch(`${base}/static/app.css`, { headers: { "If-None-Match": etag } })).status, 200, "another file's tag does not match");
    const gz = await fetch(`${base}/static/app.css`, { headers: { "Accept-Encoding": "gzip" } });
    assert.equal(gz.headers.get("content-encoding"), "gzip");
    assert.ok((await gz.text()).includes("--focus"), "fetch decodes it back to the stylesheet");

    const health = await fetch(`${base}/api/health`, { headers: { "Accept-Encoding": "gzip, br" } });
    assert.equal(health.headers.get("content-encoding"), null, "a probe's answer is never compressed");
    assert.equal((await health.json() as { status: string }).status, "healthy");
  });

  let uploaded: AnalysisResult | undefined;
  await t.test("a chosen file is analyzed with one busy message, and focus lands on the result heading in view", async () => {
    // Hold the request until the busy state has been seen, then let it through to the real server.
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    await page.route("**/api/analyze", async (route) => {
      await gate;
      await route.continue();
    });
    await page.focus("#choose-button");
    await upload(page, INPUT_FILE);
    await page.waitForSelector("#progress:not([hidden])");
    assert.equal(await page.isDisabled("#choose-button"), true);
    assert.equal(await page.getAttribute("#upload", "aria-busy"), "true");
    const busyText = await page.innerText("#upload");
    assert.equal(busyText.match(/Analyzing/g)?.length, 1, `"Analyzing…" is said once: ${busyText}`);
    assert.match(await text(page, "#upload-status"), /Analyzing sample_upload\.py…/);
    await assertNoAxeViolations(page, "busy");
    release();
    uploaded = await analysisOnPage(page, base, INPUT_FILE.name);
    await page.unroute("**/api/analyze");

    await focusSettlesOn(page, "result-heading");
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
    await page.click("#code-summary"); // closed again

    await dashboardShows(page, 1);
    const stats = await getJson<Stats>(base, "/api/stats");
    assert.equal(stats.total_analyses, 1);
    assert.equal(await text(page, "#stat-avg"), stats.avg_score.toFixed(1));
    assert.ok(page.url().endsWith(`/?analysis=${uploaded.file_hash}`), `the result has its own address: ${page.url()}`);
  });

  let many: AnalysisResult | undefined;
  await t.test("every pylint message is shown, errors first, and a line number jumps into the code", async () => {
    await upload(page, MANY_FILE);
    many = await analysisOnPage(page, base, MANY_FILE.name);
    assert.equal(many.summary.total_issues, 21);
    assert.deepEqual(many.summary.quality_by_type, { error: 3, warning: 5, refactor: 1, convention: 12 });
    await assertResultMatches(page, many);
    assert.deepEqual(
      await page.$$eval('#quality-body .quality-group[data-type="error"] tbody tr td:nth-child(2) code', (els) => els.map((e) => e.textContent)),
      ["undefined-variable", "undefined-variable", "undefined-variable"],
    );
    assert.equal(await page.isHidden("#quality-note"), true, "nothing is left out, so no note says so");

    // The second error is on line 12: its link opens the code view there, with focus on that line.
    const link = page.locator('#quality-body .quality-group[data-type="error"] a.line-link').nth(1);
    assert.equal(await link.getAttribute("data-line"), "12");
    await link.click();
    await focusSettlesOn(page, "code-line-12");
    assert.equal(await page.getAttribute("#code-view", "open"), "");
    assert.equal(await text(page, "#code-line-12"), MANY_FILE.code.split("\n")[11]?.trim());
    assert.ok(page.url().endsWith(`/?analysis=${many.file_hash}`), "the jump keeps the result's address");
  });

  await t.test("the report download holds the score and every finding with its documentation", async () => {
    assert.ok(many);
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download-button")]);
    assert.equal(download.suggestedFilename(), "many_findings-report.txt");
    const report = await readFile(await download.path(), "utf8");
    assert.match(report, new RegExp(`^Score:\\s+${many.score}/100$`, "m"));
    assert.ok(report.includes(`File:       ${MANY_FILE.name}`));
    assert.ok(report.includes(many.file_hash));
    assert.equal(report.match(/^Line \d+:\d+ {2}\[/gm)?.length, 21, "all 21 pylint messages");
    assert.equal(report.match(/How to fix: https:\/\/pylint\.readthedocs\.io\//g)?.length, 21);
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

    await dashboardShows(page, 3);
    const stats = await getJson<Stats>(base, "/api/stats");
    const points = await page.$$eval("#trend-chart g.point", (gs) => gs.map((g) => ({ label: g.getAttribute("data-label"), score: Number(g.getAttribute("data-score")) })));
    assert.deepEqual(points, stats.trend_data.map((p) => ({ label: p.label, score: p.score })));
    assert.deepEqual(points.map((p) => p.score), [uploaded?.score, many?.score, dropped.score]);
    await assertNoAxeViolations(page, "result, dashboard with data");
  });

  await t.test("a file pylint cannot parse says so, with pylint's message and line, and gets no band", async () => {
    await upload(page, UNPARSEABLE_FILE);
    const api = await analysisOnPage(page, base, UNPARSEABLE_FILE.name);
    assert.equal(api.parse_error?.line, 1);
    assert.match(api.parse_error?.message ?? "", /invalid syntax/);
    assert.equal(await page.getAttribute("#score", "data-band"), "unparsed");
    assert.equal(await text(page, "#score-band"), "Could not be parsed");
    assert.equal(await text(page, "#score-value"), "—", "no number that reads as a grade");
    const said = await text(page, "#parse-error");
    assert.ok(said.includes(`pylint could not parse this file (Line 1:${api.parse_error?.column}): ${api.parse_error?.message}`), said);
    assert.match(await text(page, "#upload-status"), /could not be parsed/);
    assert.doesNotMatch(await text(page, "#result"), /\bGood\b/);
  });

  await t.test("errors are readable, take keyboard focus, and mark the earlier result", async () => {
    // Checked in the page: a .txt file never leaves the browser.
    const before = analyzeRequests.length;
    await upload(page, { name: "notes.txt", code: "hello\n" });
    await page.waitForSelector("#upload-error:not([hidden])");
    assert.match(await text(page, "#upload-error"), /Only \.py files are allowed: “notes\.txt” is not a Python file\./);
    assert.equal(analyzeRequests.length, before, "no request for a .txt file");
    assert.deepEqual(await focusedInView(page), { id: "upload-error", inView: true }, "focus is on the message, not <body>");
    assert.match(await text(page, "#result-stale"), /earlier result: the upload of “notes\.txt” failed/);
    assert.equal(await text(page, "#result-heading"), `Result for ${UNPARSEABLE_FILE.name}`, "the earlier result stays, marked");
    await assertNoAxeViolations(page, "error");

    // Checked in the page: over the server's 2 MB limit (from /api/info), chosen from the keyboard through the file chooser.
    await page.focus("#choose-button");
    const [chooser] = await Promise.all([page.waitForEvent("filechooser"), page.keyboard.press("Enter")]);
    await chooser.setFiles({ name: "huge.py", mimeType: "text/x-python", buffer: Buffer.alloc(MAX_UPLOAD_BYTES + 1, 0x23) });
    await page.waitForFunction(() => document.getElementById("upload-error")?.textContent?.includes("huge.py"));
    assert.match(await text(page, "#upload-error"), /“huge\.py” is 2\.0 MB; files may be at most 2 MB\./);

    // Checked in the page: two files dropped at once.
    await page.evaluate(() => {
      const data = new DataTransfer();
      for (const name of ["a.py", "b.py"]) data.items.add(new File(["x = 1\n"], name));
      document.getElementById("drop-zone")?.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
    });
    assert.match(await text(page, "#upload-error"), /one file at a time \(2 were given\)/);
    assert.equal(analyzeRequests.length, before, "no request for a file the page refused");

    // Decided by the server: a .py file that is not UTF-8. The page shows the server's own message, and offers no retry.
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
    await focusSettlesOn(page, "upload-error");
    assert.equal(await page.isHidden("#retry-row"), true, "the same file would be refused again: no retry");
    assert.match(await text(page, "#result-stale"), /“latin1\.py” failed/);
    watched.allowUploadErrors = false;
    assert.equal((await getJson<Stats>(base, "/api/stats")).total_analyses, 4, "the dashboard did not count the rejections");
  });

  await t.test("the feedback form validates, then sends, and focus lands on the outcome", async () => {
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
    assert.equal(await page.inputValue("#fb-message"), "", "the form is cleared after sending");
    await focusSettlesOn(page, "fb-status");
  });

  await t.test("a reload keeps the result; the history lists the analyses, opens one, and can be cleared", async () => {
    assert.ok(uploaded && many && dropped);
    await page.reload();
    const shownAgain = await analysisOnPage(page, base, UNPARSEABLE_FILE.name);
    assert.equal(await page.getAttribute("#score", "data-band"), "unparsed", "the reloaded result is the same result");
    assert.ok(page.url().endsWith(`/?analysis=${shownAgain.file_hash}`));

    const listed = await page.$$eval("#history-list a.history-link", (as) => as.map((a) => a.textContent));
    assert.deepEqual(listed, [UNPARSEABLE_FILE.name, DROPPED_FILE.name, MANY_FILE.name, INPUT_FILE.name], "newest first");
    await page.click(`#history-list a[data-hash="${uploaded.file_hash}"]`);
    await analysisOnPage(page, base, INPUT_FILE.name);
    await focusSettlesOn(page, "result-heading");
    assert.ok(page.url().endsWith(`/?analysis=${uploaded.file_hash}`));
    await page.goBack();
    await analysisOnPage(page, base, UNPARSEABLE_FILE.name);

    await page.click("#history-clear");
    assert.match(await text(page, "#history-list"), /No analyses in this browser yet/);
    assert.equal(await page.evaluate(() => localStorage.length), 0, "nothing is left in the browser's storage");
    assert.deepEqual(await focusedInView(page), { id: "history-heading", inView: true });
    await page.reload();
    assert.match(await text(page, "#history-list"), /No analyses in this browser yet/);
  });

  await t.test("a long file name wraps at 390 px: nothing runs across the cards or scrolls sideways", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const name = `${"a_really_long_module_name_without_spaces_".repeat(4)}end.py`;
    await upload(page, { name, code: '"""Long name."""\n' });
    await analysisOnPage(page, base, name);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone screen`);
    const inside = await page.evaluate(() =>
      ["#result-heading", "#upload-status", "#history-list a"].map((sel) => {
        const el = document.querySelector(sel)!;
        const card = el.closest(".card")!.getBoundingClientRect();
        const box = el.getBoundingClientRect();
        return `${sel}: ${box.left >= card.left && box.right <= card.right}`;
      }),
    );
    assert.deepEqual(inside, ["#result-heading: true", "#upload-status: true", "#history-list a: true"]);
    await page.screenshot({ path: SCREENSHOT_MOBILE, fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  // last: its probes add analyses the counts above do not expect
  await busyAnswerTests(t, browser, server);

  await t.test("no console errors, page errors or CSP violations", () => {
    assert.ok(watched.expectedUploadErrors <= 1, `unexpected count of 4xx upload echoes: ${watched.expectedUploadErrors}`);
    assert.deepEqual(watched.problems, []);
  });
});
