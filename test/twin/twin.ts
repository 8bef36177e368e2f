// The AWS twin: one loopback endpoint speaking the wire protocols the SDK v3 clients use (query/XML for CloudFormation, Auto Scaling, ELBv2, EC2; REST-JSON for EFS), an IMDSv2 per instance, and time scaled.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createAutoScaling, type TwinInstance } from "./autoscaling.ts";
import { createCloudFormation } from "./cloudformation.ts";
import { createElbv2 } from "./elbv2.ts";
import { startInstanceImds } from "./imds.ts";
import { AwsError, Clock, QueryParams, queryAnswer, queryError, readBody, SERVICE_BY_VERSION, type QueryService, type TwinEvent } from "./wire.ts";

export interface TwinOptions {
  region?: string;
  /** A placeholder account (no real account ID in the code). */
  account?: string;
  /** AWS seconds run this many times as fast (0.01: a 240 s grace in 2.4 s). Durations are given in AWS seconds everywhere. */
  timeScale?: number;
  /** The harness starts one more real agent instance for `instance` (its IMDS is `instance.imdsUrl`, the AWS endpoint the twin's url); resolves with its private address. */
  launch: (instance: TwinInstance) => Promise<string>;
  /** The EC2 instance ends: the harness stops what it started for it. */
  terminate: (instance: TwinInstance) => Promise<void>;
  /** EFS file systems and the zones they have mount targets in (all `available`). */
  fileSystems?: { id: string; zones: string[] }[];
  /** Where calls the twin does not model go (a moto server's URL), e.g. Secrets Manager; null: refused with InvalidAction. */
  forward?: string | null;
  /** Every event, as it happens (figures, logs). */
  onEvent?: (event: TwinEvent) => void;
}

export type Twin = Awaited<ReturnType<typeof startTwin>>;

/** EFS's REST-JSON error shape (x-amzn-errortype + {ErrorCode, Message}); https://docs.aws.amazon.com/efs/latest/ug/API_DescribeMountTargets.html#API_DescribeMountTargets_Errors */
function efsError(response: http.ServerResponse, status: number, code: string, message: string): void {
  response.writeHead(status, { "content-type": "application/json", "x-amzn-errortype": code }).end(JSON.stringify({ ErrorCode: code, Message: message }));
}

export async function startTwin(options: TwinOptions) {
  const region = options.region ?? "eu-west-1";
  const account = options.account ?? "000000000000";
  const clock = new Clock(options.timeScale ?? 1);
  const events: TwinEvent[] = [];
  const log = (event: Omit<TwinEvent, "at">) => {
    const full = { at: Math.round(clock.now() * 10) / 10, ...event };
    events.push(full);
    options.onEvent?.(full);
  };
  const imdsServers = new Map<string, { close: () => Promise<void> }>();
  const instanceHost = (id: string): string | null => {
    const instance = autoscaling.instances.get(id);
    return instance && instance.ec2State === "running" ? instance.host : null;
  };
  const elbv2 = createElbv2({ clock, region, account, log, hostOf: instanceHost });
  const autoscaling = createAutoScaling({
    clock,
    region,
    elbv2,
    log,
    async start(instance) {
      const imds = await startInstanceImds(instance, clock, account);
      imdsServers.set(instance.id, imds);
      instance.imdsUrl = imds.url;
      return options.launch(instance);
    },
    async stop(instance) {
      try {
        await options.terminate(instance);
      } finally {
        await imdsServers.get(instance.id)?.close();
        imdsServers.delete(instance.id);
      }
    },
  });
  const cloudformation = createCloudFormation({ clock, region, account, autoscaling, log });
  const fileSystems = new Map((options.fileSystems ?? []).map((fs) => [fs.id, fs.zones]));

  function describeTags(params: QueryParams) {
    const filters = params.list("Filter", true).map((f) => ({ name: f.get("Name"), values: Object.entries(f.raw).filter(([k]) => k.startsWith("Value.")).map(([, v]) => v) }));
    for (const filter of filters) if (filter.name !== "resource-id") throw new AwsError("InvalidParameterValue", `The filter '${filter.name}' is not modelled by the twin (resource-id is)`);
    const ids = filters.flatMap((f) => f.values);
    const items = [...autoscaling.instances.values()].filter((i) => i.ec2State !== "terminated" && (ids.length === 0 || ids.includes(i.id))).flatMap((i) => Object.entries(i.tags).map(([key, value]) => ({ resourceId: i.id, resourceType: "instance", key, value })));
    return { tagSet: items };
  }

  async function forward(request: http.IncomingMessage, response: http.ServerResponse, body: string): Promise<boolean> {
    if (!options.forward) return false;
    const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => !["host", "content-length", "connection"].includes(name)).map(([name, value]) => [name, String(value)]));
    const answer = await fetch(`${options.forward}${request.url}`, { method: request.method, headers, body: request.method === "GET" || request.method === "HEAD" ? undefined : body });
    response.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/octet-stream" }).end(Buffer.from(await answer.arrayBuffer()));
    return true;
  }

  const server = http.createServer(async (request, response) => {
    let service: QueryService = "cloudformation";
    try {
      const body = await readBody(request);
      const url = new URL(request.url ?? "/", "http://twin");
      if (url.pathname === "/2015-02-01/mount-targets" && request.method === "GET") {
        const id = url.searchParams.get("FileSystemId") ?? "";
        const zones = fileSystems.get(id);
        if (!zones) return efsError(response, 404, "FileSystemNotFound", `File system '${id}' does not exist.`);
        const targets = zones.map((zone, index) => ({ OwnerId: account, MountTargetId: `fsmt-${id.slice(3, 11)}${index}`, FileSystemId: id, SubnetId: `subnet-${index}`, LifeCycleState: "available", IpAddress: `10.0.${index + 1}.5`, AvailabilityZoneName: zone, AvailabilityZoneId: `${region.slice(0, 3)}-az${index + 1}` }));
        return void response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ MountTargets: targets }));
      }
      const contentType = String(request.headers["content-type"] ?? "");
      const params = contentType.includes("x-www-form-urlencoded") ? Object.fromEntries(new URLSearchParams(body)) : {};
      const known = params.Version ? SERVICE_BY_VERSION[params.Version] : undefined;
      if (!known || !params.Action) {
        if (await forward(request, response, body)) return;
        return void response.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ message: `the twin does not model ${request.method} ${url.pathname}${request.headers["x-amz-target"] ? ` (${request.headers["x-amz-target"]})` : ""}` }));
      }
      service = known;
      const { Action: action, Version: _version, ...rest } = params;
      const query = new QueryParams(rest);
      let result;
      if (service === "cloudformation") result = cloudformation.handle(action, query);
      else if (service === "autoscaling") result = autoscaling.handle(action, query);
      else if (service === "elbv2") result = elbv2.handle(action, query);
      else if (action === "DescribeTags") result = describeTags(query);
      else {
        if (await forward(request, response, body)) return;
        throw new AwsError("InvalidAction", `The action ${action} is not valid for this web service (the twin models EC2 DescribeTags)`);
      }
      response.writeHead(200, { "content-type": "text/xml" }).end(queryAnswer(service, action, result));
    } catch (error) {
      const refusal = error instanceof AwsError ? error : new AwsError("InternalFailure", (error as Error).message, 500, "Receiver");
      if (!response.headersSent) response.writeHead(refusal.status, { "content-type": "text/xml" }).end(queryError(service, refusal));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    region,
    account,
    clock,
    events,
    elbv2,
    autoscaling,
    cloudformation,
    /** Resolves once `predicate` holds (checked on every event and every 50 ms), or rejects after `limitMs` of real time. */
    async waitFor(what: string, predicate: () => boolean, limitMs = 120_000): Promise<void> {
      const deadline = Date.now() + limitMs;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`twin: timed out after ${limitMs} ms waiting for ${what}; last events: ${events.slice(-8).map((e) => `${e.at}s ${e.resource} ${e.what}`).join(" | ")}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async close(): Promise<void> {
      clock.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...imdsServers.values()].map((imds) => imds.close()));
      imdsServers.clear();
    },
  };
}
