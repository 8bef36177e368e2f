// The page against a busy server, for real: a 429 (this client's share taken by a held upload) and a 503 (the one analyzer lane taken while its tools are stopped with SIGSTOP); the page offers "Try again" for the same file once Retry-After has passed (the page's clock is Playwright's, run forward instead of waited for). Run by page.test.ts on its server and browser.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { TestContext } from "node:test";
import type { Browser, Page } from "playwright-core";
import { workerProcesses } from "../analyzers/helpers.ts";
import { heldUpload, uploadFrom } from "../helpers/raw-client.ts";
import { assertNoAxeViolations, focusSettlesOn, getJson, text, watch, type RunningServer } from "./harness.ts";

interface Health {
  checks: { analyzers: { running: number } };
}

async function pageUpload(page: Page, name: string, code: string) {
  await page.setInputFiles("#file-input", { name, mimeType: "text/x-python", buffer: Buffer.from(code) });
}

/** The busy answer on the page: the server's message said once, keyboard focus on it, a disabled "Try again" counting down. */
async function assertBusyAnswer(page: Page, message: RegExp) {
  await page.waitForSelector("#upload-error:not([hidden])");
  const said = await text(page, "#upload-error");
  assert.match(said, message);
  assert.doesNotMatch(said, /Try again in/, `the wait is said once, by the button: ${said}`);
  await focusSettlesOn(page, "upload-error");
  assert.equal(await page.isDisabled("#retry-button"), true);
  assert.equal(await text(page, "#retry-button"), "Try again in 5 s", "the server's Retry-After: 5");
  await page.clock.runFor(1_000);
  assert.equal(await text(page, "#retry-button"), "Try again in 4 s");
}

/** Server settings that make it busy on demand: one lane, no queue, no waiting, one analysis per client. */
export const BUSY_ON_DEMAND = {
  ANALYZER_WORKERS: "1",
  ANALYZER_QUEUE: "0",
  ANALYZER_MAX_WAIT_SECONDS: "0",
  CLIENT_MAX_ANALYSES: "1",
  ANALYZER_TIMEOUT_SECONDS: "55",
  HEALTH_INTERVAL_SECONDS: "1",
};

/** The busy-answer tests, in a browser context of their own (own storage, and a clock the test runs forward). */
export async function busyAnswerTests(t: TestContext, browser: Browser, server: RunningServer): Promise<void> {
  let stopped: number[] = [];
  const { base } = server;
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  t.after(async () => {
    for (const pid of stopped) process.kill(pid, "SIGCONT"); // (when a test failed between SIGSTOP and SIGCONT)
    await context.close().catch(() => {});
  });
  const page = await context.newPage();
  await page.clock.install();
  const watched = await watch(page);
  watched.allowUploadErrors = true;
  let sent = 0;
  page.on("request", (req) => {
    if (req.url().endsWith("/api/analyze")) sent += 1;
  });
  const sha256 = (code: string) => createHash("sha256").update(code).digest("hex");
  await page.goto(`${base}/`);
  await page.waitForSelector("#dashboard[data-loaded]");

  await t.test("429: this address's share is taken; Try again waits out Retry-After, then resends the file", async () => {
    const file = { name: "rate_limited.py", code: '"""Sent twice."""\nimport os\n' };
    const held = heldUpload(base, "held.py", "x = 1\n"); // from 127.0.0.1, like the page
    try {
      // the held upload counts once the server has its headers: a probe from the same address is then refused
      while ((await uploadFrom(base, "probe.py", "y = 2\n")).status !== 429);
      await pageUpload(page, file.name, file.code);
      await assertBusyAnswer(page, /^Too many analyses from your address at once \(at most 1\)/);
      await assertNoAxeViolations(page, "busy answer (429)");
    } finally {
      assert.equal((await held.finish()).status, 200);
    }
    await page.clock.runFor(4_000);
    assert.equal(await page.isDisabled("#retry-button"), false);
    assert.equal(await text(page, "#retry-button"), "Try again");
    assert.match(await text(page, "#upload-status"), /You can try “rate_limited\.py” again now\./);
    await page.click("#retry-button");
    await page.waitForFunction(() => document.getElementById("result-heading")?.textContent === "Result for rate_limited.py");
    assert.equal(await page.isHidden("#retry-row"), true);
    assert.equal(await page.isHidden("#upload-error"), true);
    assert.equal(sent, 2, "one refused upload, one retry");
    assert.equal(await text(page, "#result-hash"), sha256(file.code), "the retry sent the very same file");
  });

  const KEPT_CODE = '"""Kept for the retry."""\n';
  await t.test("503: the one analyzer is taken; the file is kept, and Try again analyses it once the server is free", async () => {
    stopped = (await workerProcesses(server.pid)).map((p) => p.pid);
    assert.equal(stopped.length, 3, "one pylint, one bandit and one radon worker");
    for (const pid of stopped) process.kill(pid, "SIGSTOP");
    // another client's upload takes the lane and stays on it while its tools are stopped
    const holder = uploadFrom(base, "holder.py", "z = 3\n", { from: "127.0.0.2" });
    try {
      while ((await getJson<Health>(base, "/api/health")).checks.analyzers.running !== 1) await new Promise((r) => setTimeout(r, 200));
      await pageUpload(page, "busy_server.py", KEPT_CODE);
      await assertBusyAnswer(page, /^Server busy: too many analyses waiting; try again shortly\.$/);
      assert.match(await text(page, "#result-stale"), /earlier result: the upload of “busy_server\.py” failed/);
      await assertNoAxeViolations(page, "busy answer (503)");
    } finally {
      for (const pid of stopped) process.kill(pid, "SIGCONT");
      stopped = [];
    }
    assert.equal((await holder).status, 200, "the held analysis finished once its tools ran again");
    await page.clock.runFor(4_000);
    await page.click("#retry-button");
    await page.waitForFunction(() => document.getElementById("result-heading")?.textContent === "Result for busy_server.py");
    await focusSettlesOn(page, "result-heading");
    assert.equal(await page.isHidden("#result-stale"), true, "the new result is not marked as an earlier one");
    assert.equal(await text(page, "#result-hash"), sha256(KEPT_CODE), "the retry sent the very same file");
    assert.equal(sent, 4);
  });

  await t.test("busy answers: no console errors other than their echoes, no page errors or CSP violations", () => {
    assert.deepEqual(watched.problems.filter((p) => !/status of (429|503)/.test(p)), []);
  });
}
