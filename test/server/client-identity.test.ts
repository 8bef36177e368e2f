// The pieces of fair sharing on their own: who the client is, its in-flight and rate limits, and the analyzers' fair line (properties over many cases).
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { test } from "node:test";
import fc from "fast-check";
import { FairQueue } from "../../server/analyzers/fair-queue.ts";
import { TimeoutMemory } from "../../server/analyzers/timeout-memory.ts";
import { clientAddress, clientKey, parseTrustedProxies } from "../../server/http/client-address.ts";
import { InFlightLimit, RateLimit } from "../../server/http/fair-share.ts";

const request = (peer: string, xff?: string | string[]) => ({ socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { "x-forwarded-for": xff } }) as unknown as IncomingMessage;

test("the client is the peer unless the peer is a trusted proxy; then the right-most untrusted X-Forwarded-For address", () => {
  const proxies = parseTrustedProxies("10.0.0.0/16,fd00::/8, 192.0.2.10");
  assert.equal(clientAddress(request("203.0.113.1", "198.51.100.1"), null), "203.0.113.1", "no trusted proxies: the header is ignored");
  assert.equal(clientAddress(request("203.0.113.1", "198.51.100.1"), proxies), "203.0.113.1", "an untrusted peer's header is ignored");
  assert.equal(clientAddress(request("10.0.3.4", "198.51.100.1"), proxies), "198.51.100.1");
  assert.equal(clientAddress(request("::ffff:10.0.3.4", "198.51.100.1"), proxies), "198.51.100.1", "IPv4 peers on a dual-stack socket");
  assert.equal(clientAddress(request("10.0.3.4", "1.1.1.1, 198.51.100.1, 10.0.9.9"), proxies), "198.51.100.1", "trusted hops are skipped");
  assert.equal(clientAddress(request("10.0.3.4", ["1.1.1.1", "198.51.100.2"]), proxies), "198.51.100.2", "repeated headers are one list");
  assert.equal(clientAddress(request("fd00::1", "2001:db8::5"), proxies), "2001:db8::5");
  assert.equal(clientAddress(request("192.0.2.10", "garbage, 198.51.100.3"), proxies), "198.51.100.3");
  assert.equal(clientAddress(request("192.0.2.10", "198.51.100.3, garbage"), proxies), "192.0.2.10", "a malformed entry: the proxy that passed it is the client");
  assert.equal(clientAddress(request("10.0.3.4"), proxies), "10.0.3.4", "a trusted proxy without the header is the client");
  assert.equal(clientAddress(request("10.0.3.4", "198.51.100.4:4711"), proxies), "198.51.100.4", "an address written with its port");
  assert.equal(clientAddress(request("10.0.3.4", "[2001:db8::7]:4711"), proxies), "2001:db8::7");
  assert.equal(clientAddress(request("10.0.3.4", "[2001:db8::8]"), proxies), "2001:db8::8");
  assert.equal(clientAddress(request("10.0.3.4", "10.0.0.1, 10.0.0.2"), proxies), "10.0.0.1", "only trusted hops: the farthest");
});

test("TRUSTED_PROXIES entries that are not addresses or CIDRs are refused, naming the entry", () => {
  for (const bad of ["10.0.0.0/33", "fd00::/129", "10.0.0.0/-1", "10.0.0.0/8/8", "300.1.1.1", "10.0.0.0/8,", "localhost", "10.0.0.0/ 8"]) {
    assert.throws(() => parseTrustedProxies(bad), /has |empty entry/, bad);
  }
});

test("an IPv6 client is counted by its /64, an IPv4 client by its address", () => {
  assert.equal(clientKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assert.equal(clientKey("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
  assert.equal(clientKey("2001:db8::1"), "2001:db8:0:0::/64");
  assert.equal(clientKey("::1"), "0:0:0:0::/64");
  assert.equal(clientKey("fe80::1%eth0"), "fe80:0:0:0::/64");
  assert.equal(clientKey("64:ff9b::192.0.2.1"), "64:ff9b:0:0::/64");
  assert.equal(clientKey("198.51.100.7"), "198.51.100.7");
});

test("in-flight limit: at most max per client, others unaffected, a release frees exactly one place (even if called twice)", () => {
  const limit = new InFlightLimit(2);
  const first = limit.tryEnter("a")!;
  assert.ok(limit.tryEnter("a"));
  assert.equal(limit.tryEnter("a"), null);
  assert.ok(limit.tryEnter("b"));
  first();
  first();
  assert.ok(limit.tryEnter("a"));
  assert.equal(limit.tryEnter("a"), null);
});

test("rate limit: a burst of perMinute, then one per 60/perMinute s, with the wait told in whole seconds", () => {
  let now = 0;
  const rate = new RateLimit(3, () => now);
  assert.deepEqual([rate.take("a"), rate.take("a"), rate.take("a")], [null, null, null]);
  assert.equal(rate.take("a"), 20);
  assert.equal(rate.take("b"), null, "another client has its own bucket");
  now = 19_000;
  assert.equal(rate.take("a"), 1);
  now = 20_000;
  assert.equal(rate.take("a"), null);
  assert.equal(rate.take("a"), 20);
});

test("timed-out contents are refused for the configured time, then analysed again", () => {
  let now = 0;
  const memory = new TimeoutMemory(600, () => now);
  memory.remember("h");
  assert.equal(memory.refusedFor("h"), 600);
  assert.equal(memory.refusedFor("other"), null);
  now = 599_500;
  assert.equal(memory.refusedFor("h"), 1);
  now = 600_000;
  assert.equal(memory.refusedFor("h"), null);
  const off = new TimeoutMemory(0, () => now);
  off.remember("h");
  assert.equal(off.refusedFor("h"), null, "0 turns the memory off");
});

test("a file that ran into a limit is remembered with its near-duplicates, and its client waits longer with each strike (issue 14)", () => {
  let now = 0;
  const memory = new TimeoutMemory(600, () => now, 20);
  const costly = "import os\n\ndef f():\n    return os.sep\n";
  memory.remember("h1", costly, "client-a", "memory");
  assert.deepEqual(memory.refusal("other-hash", `# a comment added\n${costly.replaceAll("\n", "  \n")}\n\n`), { seconds: 600, limit: "memory" }, "comments, blank lines and spaces do not make it another file");
  assert.equal(memory.refusedFor("other-hash", `${costly}x = 1\n`), null, "a change to the code does");
  assert.equal(memory.clientWait("client-a"), null, "a first strike costs the client nothing more");
  memory.remember("h2", "y = 2\n", "client-a");
  assert.deepEqual(memory.clientWait("client-a"), { seconds: 20, strikes: 2 }, "the second: the time limit's worth");
  assert.equal(memory.clientWait("client-b"), null);
  now = 20_000;
  assert.equal(memory.clientWait("client-a"), null);
  memory.remember("h2b", "y = 3\n", "client-a");
  assert.deepEqual(memory.clientWait("client-a"), { seconds: 40, strikes: 3 }, "doubled");
  for (let strike = 3; strike <= 10; strike++) memory.remember(`h${strike}`, `z = ${strike}\n`, "client-a");
  assert.deepEqual(memory.clientWait("client-a"), { seconds: 600, strikes: 11 }, "at most the memory's period");
  now = 20_000 + 600_000;
  assert.equal(memory.clientWait("client-a"), null, "forgotten a period after the last strike");
});

test("ANALYZER_MEMORY_MB: 1024 by default, above the recycle threshold, refused when it is not (issue 14)", async () => {
  const { loadConfig } = await import("../../server/config.ts");
  assert.equal(loadConfig({}).analyzerMemoryMb, 1024);
  assert.equal(loadConfig({ ANALYZER_MEMORY_MB: "400", ANALYZER_RECYCLE_MB: "300" }).analyzerMemoryMb, 400);
  assert.throws(() => loadConfig({ ANALYZER_MEMORY_MB: "512" }), /^ConfigError: ANALYZER_MEMORY_MB \(512\) must be above ANALYZER_RECYCLE_MB \(512\)/);
  assert.throws(() => loadConfig({ ANALYZER_MEMORY_MB: "100" }), /ANALYZER_MEMORY_MB must be between 256 and 65536/);
});

test("fair line (property): per client FIFO, never over the lane cap, and a free lane is never left idle while a client under its cap waits", () => {
  type Op = { kind: "push"; client: number } | { kind: "finish"; pick: number };
  const op = fc.oneof(fc.record({ kind: fc.constant("push" as const), client: fc.nat(3) }), fc.record({ kind: fc.constant("finish" as const), pick: fc.nat(20) }));
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 60 }), (lanes, cap, ops) => {
      const queue = new FairQueue<{ client: string; seq: number }>(cap);
      const running: Array<{ client: string; seq: number }> = [];
      const startedPerClient = new Map<string, number[]>();
      let seq = 0;
      const dispatch = () => {
        while (running.length < lanes) {
          const job = queue.take();
          if (!job) break;
          running.push(job);
          startedPerClient.set(job.client, [...(startedPerClient.get(job.client) ?? []), job.seq]);
        }
      };
      for (const step of ops) {
        if (step.kind === "push") queue.push({ client: `c${step.client}`, seq: seq++ });
        else if (running.length > 0) queue.done(running.splice(step.pick % running.length, 1)[0]!);
        dispatch();
        const counts = new Map<string, number>();
        for (const job of running) counts.set(job.client, (counts.get(job.client) ?? 0) + 1);
        for (const count of counts.values()) assert.ok(count <= cap, "a client over its lane cap");
        assert.equal(queue.running, running.length);
        if (running.length < lanes && queue.waiting > 0) {
          // every waiting client must be at its cap
          assert.equal(queue.take(), undefined, "a lane idle while a client under its cap waits");
        }
      }
      for (const seqs of startedPerClient.values()) assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "each client's jobs start in order");
    }),
    { numRuns: 300 },
  );
});

test("the new variables: defaults from the analyzer sizes, precise errors for bad values", async () => {
  const { ConfigError, loadConfig } = await import("../../server/config.ts");
  const defaults = loadConfig({ ANALYZER_WORKERS: "4", ANALYZER_QUEUE: "16" });
  assert.equal(defaults.trustedProxies, null, "TRUSTED_PROXIES is unset by default: the peer is the client");
  assert.equal(defaults.clientMaxAnalyses, 3 + 4, "all lanes but one and a quarter of the queue");
  assert.equal(defaults.clientReportsPerMinute, 10);
  assert.equal(defaults.analyzerTimeoutMemorySeconds, 600);
  assert.equal(loadConfig({ ANALYZER_WORKERS: "1", ANALYZER_QUEUE: "0" }).clientMaxAnalyses, 1);
  const set = loadConfig({ TRUSTED_PROXIES: "10.0.0.0/16", CLIENT_MAX_ANALYSES: "2", CLIENT_REPORTS_PER_MINUTE: "1", ANALYZER_TIMEOUT_MEMORY_SECONDS: "0" });
  assert.ok(set.trustedProxies?.check("10.0.200.1", "ipv4"));
  assert.deepEqual([set.clientMaxAnalyses, set.clientReportsPerMinute, set.analyzerTimeoutMemorySeconds], [2, 1, 0]);
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ TRUSTED_PROXIES: "10.0.0.0/99" }, /^TRUSTED_PROXIES has "10.0.0.0\/99": the prefix length must be 0 to 32$/],
    [{ TRUSTED_PROXIES: "proxy.example.com" }, /^TRUSTED_PROXIES has "proxy.example.com", which is not an IP address or CIDR/],
    [{ CLIENT_MAX_ANALYSES: "0" }, /^CLIENT_MAX_ANALYSES must be between 1 and 10000/],
    [{ CLIENT_REPORTS_PER_MINUTE: "many" }, /^CLIENT_REPORTS_PER_MINUTE must be a whole number/],
    [{ ANALYZER_TIMEOUT_MEMORY_SECONDS: "-5" }, /^ANALYZER_TIMEOUT_MEMORY_SECONDS must be a whole number/],
  ];
  for (const [env, message] of cases) assert.throws(() => loadConfig(env), (error: Error) => error instanceof ConfigError && message.test(error.message), JSON.stringify(env));
});
