// The twin's wire formats: the AWS query protocol (form body in, XML out, AWS's XML error shapes), REST-JSON errors, and the twin's clock (AWS seconds, scaled).
import type http from "node:http";

/**
 * A refusal as AWS sends it. `type` is the query protocol's <Type> (Sender for the caller's fault, Receiver for the service's).
 * Query protocol errors: https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/CommonErrors.html (the same shape for
 * Auto Scaling and ELBv2); EC2's own shape: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html.
 */
export class AwsError extends Error {
  readonly code: string;
  readonly status: number;
  readonly type: "Sender" | "Receiver";
  constructor(code: string, message: string, status = 400, type: "Sender" | "Receiver" = "Sender") {
    super(message);
    this.code = code;
    this.status = status;
    this.type = type;
  }
}

export const NAMESPACES = {
  cloudformation: "http://cloudformation.amazonaws.com/doc/2010-05-15/",
  autoscaling: "http://autoscaling.amazonaws.com/doc/2011-01-01/",
  elbv2: "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
  ec2: "http://ec2.amazonaws.com/doc/2016-11-15/",
} as const;
export type QueryService = keyof typeof NAMESPACES;

/** The API version each query-protocol client sends (`Version=`), which tells the services apart on one endpoint. */
export const SERVICE_BY_VERSION: Record<string, QueryService> = { "2010-05-15": "cloudformation", "2011-01-01": "autoscaling", "2015-12-01": "elbv2", "2016-11-15": "ec2" };

export function escapeXml(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

/** A tiny XML tree for answers: { Name: "text" }, { Name: [ { member… } ] } as <Name><member>…</member></Name>, nested objects. */
export type XmlValue = string | number | boolean | null | undefined | XmlValue[] | { [key: string]: XmlValue };

export function toXml(value: XmlValue, memberName = "member"): string {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.map((item) => `<${memberName}>${toXml(item, memberName)}</${memberName}>`).join("");
  if (typeof value === "object") {
    return Object.entries(value)
      .filter(([, inner]) => inner !== undefined && inner !== null)
      .map(([key, inner]) => `<${key}>${toXml(inner, memberName)}</${key}>`)
      .join("");
  }
  return escapeXml(String(value));
}

let requestCounter = 0;
export function requestId(): string {
  requestCounter += 1;
  return `twin-${process.pid}-${requestCounter.toString(16).padStart(8, "0")}`;
}

/** <ActionResponse xmlns><ActionResult>…</ActionResult><ResponseMetadata><RequestId/></ResponseMetadata></ActionResponse>; EC2 has no Result wrapper. */
export function queryAnswer(service: QueryService, action: string, result: XmlValue): string {
  if (service === "ec2") return `<${action}Response xmlns="${NAMESPACES.ec2}"><requestId>${requestId()}</requestId>${toXml(result, "item")}</${action}Response>`;
  return `<${action}Response xmlns="${NAMESPACES[service]}"><${action}Result>${toXml(result)}</${action}Result><ResponseMetadata><RequestId>${requestId()}</RequestId></ResponseMetadata></${action}Response>`;
}

export function queryError(service: QueryService, error: AwsError): string {
  if (service === "ec2") return `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${escapeXml(error.code)}</Code><Message>${escapeXml(error.message)}</Message></Error></Errors><RequestID>${requestId()}</RequestID></Response>`;
  return `<ErrorResponse xmlns="${NAMESPACES[service]}"><Error><Type>${error.type}</Type><Code>${escapeXml(error.code)}</Code><Message>${escapeXml(error.message)}</Message></Error><RequestId>${requestId()}</RequestId></ErrorResponse>`;
}

/** The query protocol's flattened lists: `Targets.member.1.Id`, `Filters.member.1.Values.member.1` (EC2: `Filter.1.Value.1`). */
export class QueryParams {
  readonly raw: Record<string, string>;
  constructor(raw: Record<string, string>) {
    this.raw = raw;
  }
  get(name: string): string | undefined {
    return this.raw[name];
  }
  required(name: string): string {
    const value = this.raw[name];
    // AWS's message for a missing required parameter (query protocol services answer ValidationError).
    if (value === undefined || value === "") throw new AwsError("ValidationError", `1 validation error detected: Value null at '${name.charAt(0).toLowerCase()}${name.slice(1)}' failed to satisfy constraint: Member must not be null`);
    return value;
  }
  /** The members of a list `prefix.member.N…` (or `prefix.N…` for EC2), each as its own QueryParams. */
  list(prefix: string, ec2 = false): QueryParams[] {
    const found = new Map<number, Record<string, string>>();
    const head = ec2 ? `${prefix}.` : `${prefix}.member.`;
    for (const [key, value] of Object.entries(this.raw)) {
      if (!key.startsWith(head)) continue;
      const rest = key.slice(head.length);
      const dot = rest.indexOf(".");
      const index = Number(dot === -1 ? rest : rest.slice(0, dot));
      if (!Number.isInteger(index)) continue;
      const entry = found.get(index) ?? {};
      entry[dot === -1 ? "" : rest.slice(dot + 1)] = value;
      found.set(index, entry);
    }
    return [...found.entries()].sort(([a], [b]) => a - b).map(([, entry]) => new QueryParams(entry));
  }
}

export function readBody(request: http.IncomingMessage, limit = 1_048_576): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => {
      body += chunk;
      if (body.length > limit) {
        reject(new AwsError("ValidationError", "request body too large", 413));
        request.destroy();
      }
    });
    request.on("end", () => resolve(body));
    request.on("error", reject);
  });
}

/**
 * The twin's time: every duration is given in AWS seconds (AWS's documented defaults: a 300 s health-check grace, a 3600 s
 * heartbeat timeout, …) and runs `scale` times as fast (scale 0.01: 300 s in 3 s). Timers are tracked so close() stops them.
 */
export class Clock {
  readonly scale: number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly started = Date.now();
  constructor(scale: number) {
    if (!(scale > 0 && scale <= 1)) throw new Error(`timeScale must be in (0, 1], not ${scale}`);
    this.scale = scale;
  }
  ms(awsSeconds: number): number {
    return Math.max(1, Math.round(awsSeconds * 1000 * this.scale));
  }
  /** AWS seconds since the twin started (for events and figures). */
  now(): number {
    return (Date.now() - this.started) / 1000 / this.scale;
  }
  after(awsSeconds: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, this.ms(awsSeconds));
    this.timers.add(timer);
    return timer;
  }
  every(awsSeconds: number, fn: () => void): NodeJS.Timeout {
    const timer = setInterval(fn, this.ms(awsSeconds));
    this.timers.add(timer);
    return timer;
  }
  cancel(timer: NodeJS.Timeout | null | undefined): void {
    if (!timer) return;
    clearTimeout(timer);
    clearInterval(timer);
    this.timers.delete(timer);
  }
  stop(): void {
    for (const timer of this.timers) {
      clearTimeout(timer);
      clearInterval(timer);
    }
    this.timers.clear();
  }
}

/** A line in the twin's event log: what happened to which resource, at which AWS second. */
export interface TwinEvent {
  at: number;
  resource: string;
  what: string;
}
