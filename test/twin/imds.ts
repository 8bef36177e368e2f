// One instance's IMDSv2 in the twin: token PUT (TTL 1–21600 s), 401 without a valid token, identity, tags, and autoscaling/target-lifecycle-state following the group.
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { TwinInstance } from "./autoscaling.ts";
import type { Clock } from "./wire.ts";

/**
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html and configuring-instance-metadata-service.html:
 * `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds` between 1 and 21600 (else 400); with HttpTokens required a
 * GET without a valid token gets 401; a PUT carrying `X-Forwarded-For` is refused (403), so a proxy cannot fetch a token.
 * Tags: `/latest/meta-data/tags/instance` lists the keys, `…/tags/instance/<key>` the value (instance metadata tags on).
 */
export async function startInstanceImds(instance: TwinInstance, clock: Clock, account: string): Promise<{ url: string; close: () => Promise<void> }> {
  const tokens = new Map<string, number>();
  const server = http.createServer((request, response) => {
    const url = request.url ?? "/";
    if (url === "/latest/api/token") {
      if (request.method !== "PUT") return void response.writeHead(405).end();
      if (request.headers["x-forwarded-for"]) return void response.writeHead(403).end();
      const ttl = Number(request.headers["x-aws-ec2-metadata-token-ttl-seconds"]);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return void response.writeHead(400).end();
      const token = randomBytes(24).toString("base64url");
      tokens.set(token, Date.now() + clock.ms(ttl));
      return void response.writeHead(200, { "x-aws-ec2-metadata-token-ttl-seconds": String(ttl), "content-type": "text/plain" }).end(token);
    }
    const token = String(request.headers["x-aws-ec2-metadata-token"] ?? "");
    const expires = tokens.get(token);
    if (expires === undefined || expires < Date.now()) return void response.writeHead(401).end();
    if (request.method !== "GET") return void response.writeHead(405).end();
    const value = answer(url);
    if (value === null) return void response.writeHead(404, { "content-type": "text/html" }).end("<html><body><h1>404 - Not Found</h1></body></html>");
    response.writeHead(200, { "content-type": url.endsWith("/document") ? "application/json" : "text/plain" }).end(value);
  });
  function answer(url: string): string | null {
    const path = url.split("?")[0]!;
    const tagPrefix = "/latest/meta-data/tags/instance/";
    if (path === "/latest/meta-data/tags/instance" || path === tagPrefix) return Object.keys(instance.tags).join("\n");
    if (path.startsWith(tagPrefix)) return instance.tags[decodeURIComponent(path.slice(tagPrefix.length))] ?? null;
    switch (path) {
      case "/latest/meta-data/instance-id":
        return instance.id;
      case "/latest/meta-data/placement/availability-zone":
        return instance.zone;
      case "/latest/meta-data/placement/availability-zone-id":
        return `${instance.region.slice(0, 3)}-az${instance.zone.charCodeAt(instance.zone.length - 1) - 96}`;
      case "/latest/meta-data/placement/region":
        return instance.region;
      case "/latest/meta-data/local-ipv4":
        return instance.host ?? "127.0.0.1";
      case "/latest/meta-data/autoscaling/target-lifecycle-state":
        // 404 before any transition (retrieving-target-lifecycle-state-through-imds.html)
        return instance.targetLifecycleState;
      case "/latest/dynamic/instance-identity/document":
        return JSON.stringify({ accountId: account, architecture: "x86_64", availabilityZone: instance.zone, imageId: "ami-00000000000000000", instanceId: instance.id, instanceType: "t3.small", privateIp: instance.host ?? "127.0.0.1", region: instance.region, version: "2017-09-30" }, null, 2);
      default:
        return null;
    }
  }
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
