// Renders a StackModel to compose.yaml with the `yaml` package: same model, same bytes.
import { createHash } from "node:crypto";
import YAML from "yaml";
import { imageRefString, type StackModel } from "./model.ts";

/** The image's health probe (server/healthcheck.ts, built): plain node, no curl or wget in the image. */
export const HEALTH_COMMAND = ["CMD", "node", "/app/dist/server/healthcheck.js"];

/** The container's own health socket (server HEALTH_SOCKET), on its private /tmp. */
export const HEALTH_SOCKET = "/tmp/codedetect-health.sock";

function byKey(entries: [string, string][]): Record<string, string> {
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The environment the container gets: the model's own keys plus its extra environment, sorted. */
export function containerEnvironment(model: StackModel): Record<string, string> {
  return byKey([
    ...Object.entries(model.environment),
    ["DATA_DIR", model.dataDir],
    ["PORT", String(model.port.container)],
    ["HOST", "0.0.0.0"],
    ["DRAIN_SECONDS", String(model.drainSeconds)],
    // the new version joins the port beside the old one during an in-place update (SO_REUSEPORT in the shared network namespace)
    ["REUSE_PORT", "1"],
    // …so the health check must reach this container's own server: a socket on its own /tmp
    ["HEALTH_SOCKET", HEALTH_SOCKET],
    // a digest-only image has no tag to show: /api/info then reports the digest alone
    ...(model.image.tag === null ? [] : [["IMAGE_TAG", model.image.tag] as [string, string]]),
    ["IMAGE_DIGEST", model.image.digest],
  ]);
}

/**
 * awslogs buffers in dockerd and, in its default blocking mode, stops the container's writes to stdout while CloudWatch
 * Logs throttles or cannot be reached: the server stalls on a log line. Non-blocking mode keeps a ring buffer of this
 * size in dockerd and drops the oldest lines when it is full instead (Docker: "Configure logging drivers", delivery
 * modes; max-buffer-size defaults to 1m). 4 MB holds minutes of this server's request logs.
 */
export const AWSLOGS_DELIVERY = { mode: "non-blocking", "max-buffer-size": "4m" } as const;

function logging(model: StackModel): Record<string, unknown> {
  const log = model.logging;
  if (log.driver === "json-file") return { driver: "json-file", options: { "max-size": log.maxSize, "max-file": String(log.maxFiles) } };
  const options: Record<string, string> = { "awslogs-group": log.group, "awslogs-create-group": "false", ...AWSLOGS_DELIVERY };
  if (log.region) options["awslogs-region"] = log.region;
  if (log.stream) options["awslogs-stream"] = log.stream;
  return { driver: "awslogs", options };
}

/** The service that owns the published port and the network namespace the versions share (see compose/README.md "In-place update"). */
export function portHolderService(model: StackModel): string {
  return `${model.service}-port`;
}

/** The label that says which model (app) or which port layout (port holder) a container was created from. */
export const FINGERPRINT_LABEL = "io.codedetect.fingerprint";

const fingerprint = (value: unknown) => createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 32);

/**
 * The port holder: a process that does nothing (`sleep infinity`) in the network namespace that publishes the port. It
 * outlives the versions: a new version joins its namespace and listens beside the old one (SO_REUSEPORT), so the
 * port never closes. tcp_migrate_req hands the connections waiting in a closing listener's queue to the other one.
 */
function portHolder(model: StackModel): Record<string, unknown> {
  const layout = {
    ports: [{ target: model.port.container, published: String(model.port.host), host_ip: model.port.bind, protocol: "tcp" }],
    sysctls: { "net.ipv4.tcp_migrate_req": "1" },
  };
  return {
    image: imageRefString(model.image),
    pull_policy: "never",
    init: true,
    entrypoint: ["sleep", "infinity"],
    restart: model.restart,
    user: model.user,
    read_only: true,
    cap_drop: ["ALL"],
    security_opt: ["no-new-privileges:true"],
    labels: { [FINGERPRINT_LABEL]: fingerprint(layout) },
    ...layout,
    healthcheck: { disable: true },
    stop_grace_period: "5s",
    logging: logging(model),
  };
}

/** What a port holder created from this model carries as its fingerprint: a holder with another one publishes another port. */
export function portHolderFingerprint(model: StackModel): string {
  return (portHolder(model).labels as Record<string, string>)[FINGERPRINT_LABEL] ?? "";
}

function appService(model: StackModel): Record<string, unknown> {
  const bind = (source: string, target: string) => ({ type: "bind", source, target, bind: { create_host_path: false } });
  const h = model.health;
  return {
    image: imageRefString(model.image),
    pull_policy: "never",
    init: true,
    restart: model.restart,
    user: model.user,
    read_only: true,
    tmpfs: [`/tmp:size=${model.tmpfsSize},mode=1777`],
    ...(model.memory ? { mem_limit: `${model.memory.limitMb}m`, memswap_limit: `${model.memory.limitMb}m` } : {}),
    cap_drop: ["ALL"],
    security_opt: ["no-new-privileges:true"],
    ...(model.envFile ? { env_file: [{ path: model.envFile, required: true }] } : {}),
    environment: containerEnvironment(model),
    network_mode: `service:${portHolderService(model)}`,
    volumes: [
      bind(model.storage.database, `${model.dataDir}/database`),
      bind(model.storage.uploads, `${model.dataDir}/uploads`),
      ...(model.readOnlyFiles ?? []).map((file) => ({ ...bind(file.source, file.target), read_only: true })),
    ],
    healthcheck: {
      test: HEALTH_COMMAND,
      interval: `${h.intervalSeconds}s`,
      timeout: `${h.timeoutSeconds}s`,
      retries: h.retries,
      start_period: `${h.startPeriodSeconds}s`,
    },
    stop_signal: "SIGTERM",
    stop_grace_period: `${model.stopGraceSeconds}s`,
    logging: logging(model),
  };
}

/** What an app container created from this model carries as its fingerprint: everything Compose gets for it. */
export function appFingerprint(model: StackModel): string {
  return fingerprint(appService(model));
}

/** The Compose document as plain data, keys in a fixed order. */
export function composeDocument(model: StackModel): Record<string, unknown> {
  const app = appService(model);
  return {
    name: model.project,
    services: {
      [model.service]: { ...app, labels: { [FINGERPRINT_LABEL]: fingerprint(app) } },
      [portHolderService(model)]: portHolder(model),
    },
  };
}

/**
 * Compose interpolates `$` in every value of compose.yaml with the runner's own environment ("${HOME}" becomes the
 * runner's HOME, "pa$word" loses "$word"); written `$$`, each value reaches Compose as the model has it.
 */
function withoutInterpolation(value: unknown): unknown {
  if (typeof value === "string") return value.replaceAll("$", () => "$$");
  if (Array.isArray(value)) return value.map(withoutInterpolation);
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, withoutInterpolation(inner)]));
  return value;
}

export function renderCompose(model: StackModel): string {
  const doc = new YAML.Document(withoutInterpolation(composeDocument(model)));
  // "1000:1000" is a base-60 number to YAML 1.1 readers: quote it so that every reader sees a string.
  const user = new YAML.Scalar(model.user);
  user.type = "QUOTE_DOUBLE";
  doc.setIn(["services", model.service, "user"], user);
  doc.commentBefore = " Generated from the stack model by compose/render.ts: edits here are overwritten on the next deploy.";
  return doc.toString({ lineWidth: 0 });
}
