// A taken port, as a user meets it: `npm start` (bootstrap --local) refuses before anything is built or started, in one line naming the port, its holder and --port.
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { defaults } from "../../bootstrap/config.ts";
import { listeningInodes, portRefusal } from "../../bootstrap/port-check.ts";
import { runAgent, tempDir } from "./helpers.ts";

describe("the port check", () => {
  let holder: net.Server;
  let port = 0;
  before(async () => {
    holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    port = (holder.address() as net.AddressInfo).port;
  });
  after(() => holder.close());

  it("refuses a port another process holds before the image is built: one line naming the port, the process and --port; nothing built, nothing started", async () => {
    const root = tempDir("port");
    const result = await runAgent(["--local", "--port", String(port), "--state-dir", path.join(root, "state"), "--shared-dir", path.join(root, "shared")], {}, { full: true });
    assert.equal(result.code, 1, result.stdout);
    assert.equal(result.stderr.split("\n").filter(Boolean).length, 1, result.stderr);
    const next = port === 65535 ? port - 1 : port + 1;
    assert.match(
      result.stderr,
      new RegExp(`^bootstrap: step start-up: check that port ${port} on 127\\.0\\.0\\.1 is free before building or starting anything: port ${port} on 127\\.0\\.0\\.1 is already in use by node \\(pid ${process.pid}\\); next: stop what holds it, or choose another port: --port ${next} \\(npm start -- --port ${next}\\)\\n$`),
    );
    assert.equal(fs.existsSync(path.join(root, "state", "local-image.json")), false, "no image was built");
    assert.equal(fs.existsSync(path.join(root, "shared")), false, "nothing was laid out");
  });

  it("a run that stops before the start step (--until migrate) does not need the port", async () => {
    const root = tempDir("port-until");
    const result = await runAgent(["--local", "--port", String(port), "--state-dir", path.join(root, "state"), "--shared-dir", path.join(root, "shared")]);
    assert.equal(result.code, 0, result.stderr);
  });

  it("reads listening sockets from /proc/net/tcp's layout (state 0A, the port in hex) and words a refused bind by its cause", () => {
    const table = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0",
      "   1: 0100007F:1388 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1",
      "   2: 00000000:1389 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100 0 0 10 0",
    ].join("\n");
    assert.deepEqual([...listeningInodes([table], 5000)], ["4242"], "only the listener on 5000 (0x1388), not an established connection");
    const config = { ...defaults(true), port: 80 };
    assert.match(portRefusal({ state: "taken", code: "EACCES", holder: null }, config)!.message, /port 80 on 127\.0\.0\.1 may not be bound by this user \(EACCES\); next: stop what holds it, or choose another port: --port 81/);
    assert.match(portRefusal({ state: "taken", code: "EADDRINUSE", holder: "container web-1 (Compose project other)" }, config)!.message, /is already in use by container web-1 \(Compose project other\)/);
    assert.equal(portRefusal({ state: "ours" }, config), null);
    assert.equal(portRefusal({ state: "free" }, config), null);
  });
});
