// Health on a nearly full upload volume: a real 4 MB tmpfs as DATA_DIR; below twice the upload limit free, storage fails (503), and recovers.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { startServer, tempDir, type RunningServer } from "../helpers/server-process.ts";

/** Mounts a 4 MB tmpfs on a new directory; null when this machine does not allow it (not root, no mount). */
function mountSmallTmpfs(): string | null {
  const dir = tempDir("codedetect-tmpfs-");
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", dir], { stdio: "pipe" });
    return dir;
  } catch (error) {
    fs.rmdirSync(dir);
    if (process.env.CI === "true") throw new Error(`CI=true but a tmpfs cannot be mounted: ${(error as Error).message}`);
    return null;
  }
}

interface StorageCheck {
  ok: boolean;
  state: string;
  error?: string;
}

/** Polls health until the storage check is as wanted; a check that never gets there fails the test rather than hanging it. */
async function storageWhen(server: RunningServer, wanted: (check: StorageCheck, status: number) => boolean): Promise<{ check: StorageCheck; status: number }> {
  for (let attempt = 0; ; attempt++) {
    if (attempt === 100) throw new Error("the storage check never reached the expected state over 100 health refreshes");
    const response = await fetch(`${server.url}/api/health`);
    const check = ((await response.json()) as { checks: { storage: StorageCheck } }).checks.storage;
    if (wanted(check, response.status)) return { check, status: response.status };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const dir = mountSmallTmpfs();

test("health fails with the free space named when the upload volume is nearly full, and recovers when space returns", { skip: dir === null ? "mounting a tmpfs is not permitted here (needs root); runs under CI" : false }, async () => {
  const dataDir = dir!;
  // an upload limit of 1 MB keeps 2 MB free: the empty 4 MB volume is healthy, with 2.5 MB taken it is not
  const server = await startServer({ dataDir, env: { MAX_UPLOAD_BYTES: String(1024 * 1024), HEALTH_INTERVAL_SECONDS: "1" } });
  const filler = path.join(dataDir, "filler.bin");
  try {
    const healthy = await fetch(`${server.url}/api/health`);
    assert.equal(healthy.status, 200, await healthy.text());

    fs.writeFileSync(filler, Buffer.alloc(2.5 * 1024 * 1024, 1));
    const full = await storageWhen(server, (check) => !check.ok);
    assert.equal(full.status, 503);
    assert.equal(full.check.state, "broken");
    assert.match(full.check.error ?? "", /^upload storage nearly full: \d+\.\d MB free, less than the 2\.0 MB kept free/);
    assert.ok(!(full.check.error ?? "").includes(dataDir), "no host path in the answer");

    fs.rmSync(filler);
    const recovered = await storageWhen(server, (check) => check.ok);
    assert.equal(recovered.check.state, "ok");
    assert.equal(recovered.status, 200);
  } finally {
    await server.stop();
    fs.rmSync(filler, { force: true });
    execFileSync("umount", [dataDir]);
    fs.rmdirSync(dataDir);
  }
});
