// Black-holed AWS endpoints end every call with an error naming the endpoint, within the configured timeouts, never a hang.
//
// Two loopback black holes, both real kernel behaviour: one accepts the TCP connection and never answers (a proxy or
// endpoint that hangs), one never accepts (a listening socket whose accept queue is full and whose owner never calls
// accept: Linux drops further SYNs, so connect() waits — what a security group or NACL dropping packets looks like).
// Small timeouts are configured; nothing here measures time: each call must end, and with the right error.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { createAwsAdapter } from "../../bootstrap/adapters/aws.ts";
import { createImdsClient } from "../../bootstrap/adapters/imds.ts";
import { REPO_ROOT, runAgent, tempDir } from "./helpers.ts";
import { startImds } from "./loopback.ts";

const CREDENTIALS = { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_EC2_METADATA_DISABLED: "true" };
const TIMEOUTS = { connectionTimeoutMs: 200, requestTimeoutMs: 300 };
const QUICK_RETRY = { attempts: 2, minDelayMs: 1, maxDelayMs: 2, deadlineMs: 10_000 };

/** Accepts every connection, reads what it is sent, answers nothing. */
async function silentEndpoint(): Promise<{ url: string; close: () => void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, close: () => (sockets.forEach((s) => s.destroy()), server.close()) };
}

/** A listening socket with a backlog of 0 that never accepts (Node always accepts, so Python holds it), its queue filled by one connection. */
async function unacceptingEndpoint(): Promise<{ url: string; close: () => void }> {
  const holder: ChildProcess = spawn("python3", ["-c", "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()"], { stdio: ["pipe", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    holder.stdout!.once("data", (chunk) => resolve(Number(String(chunk).trim())));
    holder.once("error", reject);
  });
  // The first connection completes in the kernel and fills the queue; from then on SYNs are dropped.
  const filler = net.connect(port, "127.0.0.1");
  filler.on("error", () => undefined);
  await new Promise((resolve) => filler.once("connect", resolve));
  const probe = net.connect(port, "127.0.0.1");
  probe.on("error", () => undefined);
  const connected = await Promise.race([new Promise((resolve) => probe.once("connect", () => resolve(true))), new Promise((resolve) => setTimeout(() => resolve(false), 500))]);
  probe.destroy();
  assert.equal(connected, false, "precondition: the kernel no longer completes connections to the full queue");
  return { url: `http://127.0.0.1:${port}`, close: () => (filler.destroy(), holder.kill()) };
}

describe("AWS calls against black-holed endpoints", () => {
  let silent: Awaited<ReturnType<typeof silentEndpoint>>;
  let unaccepting: Awaited<ReturnType<typeof unacceptingEndpoint>>;
  const saved = { ...process.env };

  before(async () => {
    Object.assign(process.env, CREDENTIALS);
    silent = await silentEndpoint();
    unaccepting = await unacceptingEndpoint();
  });
  after(() => {
    silent?.close();
    unaccepting?.close();
    process.env = saved;
  });

  const adapter = (endpoint: string) => createAwsAdapter({ region: "eu-west-1", endpoint, timeouts: TIMEOUTS, retry: QUICK_RETRY });

  it("a read from an endpoint that accepts and never answers ends with 'no answer from <endpoint>', after the SDK's attempts", async () => {
    await assert.rejects(adapter(silent.url).instanceTags("i-0abc1234def567890"), (error: Error) => {
      assert.match(error.message, new RegExp(`^ec2:DescribeTags: no answer from ${silent.url} within 300 ms \\(5 attempts\\): connected, but the endpoint never answered$`));
      return true;
    });
  });

  it("a read from an endpoint that never accepts ends with 'no connection to <endpoint>'", async () => {
    await assert.rejects(adapter(unaccepting.url).mountTargets("fs-0123456789abcdef0"), /^Error: efs:DescribeMountTargets: no connection to http:\/\/127\.0\.0\.1:\d+ within 200 ms \(5 attempts\): the endpoint does not accept/);
  });

  it("an action (SignalResource) is retried by its own policy, then fails naming the endpoint", async () => {
    const input = { StackName: "s", LogicalResourceId: "AutoScalingGroup", UniqueId: "i-0abc1234def567890", Status: "SUCCESS" };
    await assert.rejects(adapter(silent.url).perform("cloudformation:SignalResource", input), new RegExp(`^AwsCallError: cloudformation:SignalResource failed after 2 attempts: no answer from ${silent.url} within 300 ms`));
    await assert.rejects(adapter(unaccepting.url).perform("elbv2:RegisterTargets", { TargetGroupArn: "arn", Targets: [{ Id: "i-0abc1234def567890", Port: 5000 }] }), /failed after 2 attempts: no connection to http:\/\/127\.0\.0\.1:\d+ within 200 ms/);
  });

  it("IMDS behind either black hole: unreachable, naming the URL, after its bounded attempts", async () => {
    for (const hole of [silent, unaccepting]) {
      const result = await createImdsClient(hole.url, { attempts: 2, timeoutMs: 200, minDelayMs: 1 }).identity();
      assert.deepEqual(result, { state: "unreachable", detail: `PUT ${hole.url}/latest/api/token: no answer within 200 ms (2 attempts)` });
    }
  });

  it("the agent (AWS mode) with EC2 black-holed: exits 1 at identify, naming the endpoint and the network to check", async () => {
    const imds = await startImds({ instanceId: "i-0abc1234def567890", zone: "eu-west-1b", region: "eu-west-1" });
    try {
      const root = tempDir("sdk-timeouts");
      const config = { fileSystemId: "fs-0123456789abcdef0", stateDir: path.join(root, "state"), sharedDir: path.join(root, "efs"), fstab: path.join(root, "fstab"), migrateFrom: null, awsEndpoint: silent.url, imdsEndpoint: imds.url, awsConnectTimeoutMs: 200, awsRequestTimeoutMs: 300 };
      fs.writeFileSync(path.join(root, "bootstrap.json"), JSON.stringify(config));
      const result = await runAgent(["--config", path.join(root, "bootstrap.json")], CREDENTIALS);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, new RegExp(`^bootstrap: step identify: ec2:DescribeTags for i-0abc1234def567890: ec2:DescribeTags: no answer from ${silent.url} within 300 ms .*; next: check this instance's route to the EC2 API`));
    } finally {
      imds.stop();
    }
  });

  it("npm run deploy against an endpoint that refuses: exit 1, one line naming CloudFormation's endpoint", async () => {
    const closed = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, "127.0.0.1", () => {
        const port = (server.address() as net.AddressInfo).port;
        server.close(() => resolve(port));
      });
    });
    const image = `127.0.0.1:5000/codedetect:3.0.0@sha256:${"a".repeat(64)}`;
    const result = await execa("node", ["scripts/deploy.ts", "--stack", "s", "--image", image, "--region", "eu-west-1", "--endpoint", `http://127.0.0.1:${closed}`], { cwd: REPO_ROOT, env: CREDENTIALS, reject: false });
    assert.equal(result.exitCode, 1);
    assert.match(String(result.stderr), new RegExp(`^deploy: CloudFormation: cannot reach http://127\\.0\\.0\\.1:${closed}: connect ECONNREFUSED 127\\.0\\.0\\.1:${closed} \\(5 attempts\\) \\(check --region, --endpoint and the network\\)$`));
  });
});
