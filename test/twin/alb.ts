// An Application Load Balancer's data plane on loopback, as strict toward the servers as an ALB: idle back-end connections kept and reused up to the idle timeout, the client only in X-Forwarded-For, the balancer's own address as the peer, 503 with no target, 502 (never a retry) when a target closes on a request.
//
// What AWS documents, and what this twin does about it:
// - Connection idle timeout (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-load-balancer-attributes.html#connection-idle-timeout):
//   "the period of time an existing client or target connection can remain inactive … before the load balancer closes the
//   connection" (default 60 s). "We also recommend that you configure the idle timeout of your application to be larger than
//   the idle timeout configured for the load balancer. Otherwise, if the application closes the TCP connection to the load
//   balancer ungracefully, the load balancer might send a request to the application before it receives the packet indicating
//   that the connection is closed. If this is the case, then the load balancer sends an HTTP 502 Bad Gateway error to the
//   client." Here: one keep-alive http.Agent per target whose idle sockets live exactly `idleTimeoutSeconds` (the Keep-Alive
//   hint a server sends is ignored: an ALB does not shorten its timeout for it), so a server closing earlier races a reuse
//   for real; a connection the balancer sees closed (FIN read) is dropped, as an ALB drops it.
// - 502 (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#http-502-issues):
//   "The target closed the connection with a TCP RST or a TCP FIN while the load balancer had an outstanding request to the
//   target", "The load balancer received a TCP RST from the target when attempting to establish a connection". The request is
//   not sent again: an ALB does not retry a request a target failed (HAProxy's `retry-on` hides exactly this race).
// - 503 (same page, #http-503-issues): "The target groups for the load balancer have no registered targets" — answered by the
//   balancer itself (it counts in HTTPCode_ELB_5XX_Count, kept here in `stats().elb`).
// - 504 (same page, #http-504-issues): the target did not answer within the idle timeout.
// - X-Forwarded-For / -Proto / -Port (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/x-forwarded-headers.html):
//   default mode `append`: the client's address is appended to an X-Forwarded-For the request carries, or the header is
//   created; the server's access log shows only the balancer's address. The back-end side binds `localAddress` (a loopback
//   address of its own), so the TCP peer a target sees is the balancer, never the client.
// - Routing: round robin over the targets `setTargets` names (the control plane, test/twin, decides which are healthy); a target
//   left out of the list gets no new request and its in-flight requests finish (draining); its idle connections are closed.
// Judgement (not documented by AWS): which idle connection is reused. This twin reuses the OLDEST idle connection first (FIFO):
// under steady traffic every connection of the pool is then reused at the pool's full period, so connections reach the
// server's idle timeout while still in use — the way 502s appear behind a real ALB under moderate load. LIFO would let the
// old ones age out unseen and hide the race.
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface AlbTarget {
  /** The target's name (an instance id). */
  id: string;
  host: string;
  port: number;
}

export interface AlbOptions {
  /** The load balancer's idle timeout (`idle_timeout.timeout_seconds`; AWS's default 60, the template's figure 120); fractions scale time down in tests. */
  idleTimeoutSeconds: number;
  /** Where clients connect (default 127.0.0.1). */
  host?: string;
  /** Front port (default 0: a free one). */
  port?: number;
  /** The balancer's own address toward the targets: the peer every target sees (default 127.0.0.21). */
  localAddress?: string;
}

export interface AlbStats {
  /** Requests the balancer received. */
  requests: number;
  /** Answers the balancer made itself, by status (502, 503, 504): HTTPCode_ELB_5XX_Count. */
  elb: Record<number, number>;
  /** Back-end connections opened. */
  connectionsOpened: number;
  /** Requests sent on an idle back-end connection the balancer kept. */
  reused: number;
  /** The longest a reused connection had been idle before a request was sent on it (ms). */
  longestReusedIdleMs: number;
  /** Requests sent to each target id. */
  byTarget: Record<string, number>;
}

export interface Alb {
  url: string;
  port: number;
  /** The balancer's address as the targets see it. */
  localAddress: string;
  /** Targets that get new requests, in round-robin order; one left out drains. */
  setTargets(targets: AlbTarget[]): void;
  stats(): AlbStats;
  /** Stops listening, ends client connections, closes every back-end connection. */
  close(): Promise<void>;
}

/** Headers meaningful for one connection only (RFC 9110 §7.6.1); never forwarded. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);

/** Idle back-end sockets live exactly the balancer's idle timeout, whatever Keep-Alive hint the target sent; oldest reused first. */
class IdleTimeoutAgent extends http.Agent {
  readonly #idleMs: number;
  readonly idleSince = new WeakMap<Socket, number>();
  constructor(idleMs: number, localAddress: string) {
    super({ keepAlive: true, scheduling: "fifo", localAddress, maxFreeSockets: 1024 });
    this.#idleMs = idleMs;
  }
  override keepSocketAlive(socket: Socket): boolean {
    // Node's own agent shortens the lifetime to the server's `Keep-Alive: timeout=` hint; an ALB does not.
    socket.setKeepAlive(true, 1000);
    socket.unref();
    socket.setTimeout(this.#idleMs); // the agent destroys a free socket that times out
    this.idleSince.set(socket, performance.now());
    return true;
  }
}

interface Backend {
  target: AlbTarget;
  agent: IdleTimeoutAgent;
  inFlight: number;
  draining: boolean;
}

const key = (target: AlbTarget) => `${target.id}@${target.host}:${target.port}`;

function bare(address: string | undefined): string {
  return (address ?? "").replace(/^::ffff:/, "");
}

const REASONS: Record<number, string> = { 502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out" };

/** The balancer's own answer, as an ALB writes it (HTML body, `Server: awselb/2.0`). */
function answer(res: http.ServerResponse, status: number): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const title = `${status} ${REASONS[status]}`;
  const body = `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n</body>\r\n</html>\r\n`;
  res.writeHead(status, { server: "awselb/2.0", "content-type": "text/html", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function forwardedHeaders(req: http.IncomingMessage, frontPort: number): http.OutgoingHttpHeaders {
  const headers: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(name) && value !== undefined) headers[name] = value;
  const client = bare(req.socket.remoteAddress);
  const prior = req.headers["x-forwarded-for"];
  headers["x-forwarded-for"] = prior ? `${prior}, ${client}` : client;
  headers["x-forwarded-proto"] = "http";
  headers["x-forwarded-port"] = String(frontPort);
  return headers;
}

export async function startAlb(options: AlbOptions): Promise<Alb> {
  if (!(options.idleTimeoutSeconds > 0 && options.idleTimeoutSeconds <= 4000)) {
    // CreateLoadBalancer/ModifyLoadBalancerAttributes accept 1-4000 s; fractions are allowed here only to scale time in tests
    throw new Error(`idleTimeoutSeconds must be above 0 and at most 4000, got ${options.idleTimeoutSeconds}`);
  }
  const idleMs = options.idleTimeoutSeconds * 1000;
  const localAddress = options.localAddress ?? "127.0.0.21";
  const backends = new Map<string, Backend>();
  let rotation: Backend[] = [];
  let next = 0;
  const stats: AlbStats = { requests: 0, elb: {}, connectionsOpened: 0, reused: 0, longestReusedIdleMs: 0, byTarget: {} };
  const elb = (status: number) => (stats.elb[status] = (stats.elb[status] ?? 0) + 1);

  function retireIfDrained(backend: Backend): void {
    if (backend.draining && backend.inFlight === 0 && backends.get(key(backend.target)) === backend) {
      backends.delete(key(backend.target));
      backend.agent.destroy();
    }
  }

  function pick(): Backend | null {
    if (rotation.length === 0) return null;
    const backend = rotation[next % rotation.length]!;
    next = (next + 1) % rotation.length;
    return backend;
  }

  let frontPort = 0;
  const server = http.createServer((req, res) => {
    stats.requests += 1;
    const backend = pick();
    if (!backend) {
      elb(503);
      req.resume();
      answer(res, 503);
      return;
    }
    backend.inFlight += 1;
    stats.byTarget[backend.target.id] = (stats.byTarget[backend.target.id] ?? 0) + 1;
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      backend.inFlight -= 1;
      retireIfDrained(backend);
    };
    const upstream = http.request({
      host: backend.target.host,
      port: backend.target.port,
      method: req.method,
      path: req.url,
      headers: forwardedHeaders(req, frontPort),
      agent: backend.agent,
      localAddress,
    });
    upstream.setTimeout(idleMs, () => upstream.destroy(Object.assign(new Error("target idle past the idle timeout"), { code: "ALB_IDLE_TIMEOUT" })));
    upstream.on("socket", (socket) => {
      if (upstream.reusedSocket) {
        stats.reused += 1;
        const since = backend.agent.idleSince.get(socket);
        if (since !== undefined) stats.longestReusedIdleMs = Math.max(stats.longestReusedIdleMs, performance.now() - since);
      } else stats.connectionsOpened += 1;
    });
    upstream.on("response", (response) => {
      const headers: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(response.headers)) if (!HOP_BY_HOP.has(name) && value !== undefined) headers[name] = value;
      res.writeHead(response.statusCode ?? 502, headers);
      response.pipe(res);
      response.on("end", settle);
      response.on("error", () => res.destroy());
    });
    upstream.on("error", (error: NodeJS.ErrnoException) => {
      settle();
      const status = error.code === "ALB_IDLE_TIMEOUT" ? 504 : 502;
      if (!res.headersSent) elb(status);
      answer(res, status);
    });
    // a client that goes away takes its back-end request with it
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
      settle();
    });
    req.pipe(upstream);
  });
  // the balancer closes an idle client connection at the same idle timeout, not Node's default 5 s
  server.keepAliveTimeout = idleMs;
  server.keepAliveTimeoutBuffer = 0;
  server.headersTimeout = Math.max(idleMs, 1000);
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  frontPort = address.port;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    localAddress,
    setTargets(targets) {
      const wanted = new Map(targets.map((target) => [key(target), target]));
      if (wanted.size !== targets.length) throw new Error(`setTargets got the same target twice: ${targets.map(key).join(", ")}`);
      for (const [name, backend] of backends) {
        if (wanted.has(name)) backend.draining = false;
        else {
          backend.draining = true;
          retireIfDrained(backend);
        }
      }
      rotation = targets.map((target) => {
        const known = backends.get(key(target));
        if (known) return known;
        const backend: Backend = { target: { ...target }, agent: new IdleTimeoutAgent(idleMs, localAddress), inFlight: 0, draining: false };
        backends.set(key(target), backend);
        return backend;
      });
      next = rotation.length === 0 ? 0 : next % rotation.length;
    },
    stats: () => structuredClone(stats),
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const backend of backends.values()) backend.agent.destroy();
      backends.clear();
      rotation = [];
      await closed;
    },
  };
}
