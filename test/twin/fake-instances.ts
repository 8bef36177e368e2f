// For the twin's own suites: an "instance" is a loopback HTTP server answering /api/health (200 or 503 as the test sets it) — a stand-in
// for the app, because these suites test the twin's semantics, not the agent (the agent runs against the twin in `npm run ha`).
import http from "node:http";
import type { TwinInstance } from "./autoscaling.ts";

export interface FakeInstance {
  instance: TwinInstance;
  port: number;
  healthy: boolean;
  server: http.Server;
}

/**
 * launch/terminate callbacks for startTwin: like instances behind a real target group, every instance listens on the same port,
 * each on its own address (127.0.0.2, 127.0.0.3, … — all loopback on Linux).
 */
export function fakeFleet(port: number) {
  const running = new Map<string, FakeInstance>();
  const stopped: string[] = [];
  let counter = 1;
  return {
    running,
    stopped,
    async launch(instance: TwinInstance): Promise<string> {
      counter += 1;
      const host = `127.0.0.${counter}`;
      const fake: FakeInstance = { instance, port, healthy: true, server: http.createServer((_request, response) => response.writeHead(fake.healthy ? 200 : 503).end()) };
      await new Promise<void>((resolve, reject) => fake.server.once("error", reject).listen(port, host, resolve));
      running.set(instance.id, fake);
      return host;
    },
    async terminate(instance: TwinInstance): Promise<void> {
      const fake = running.get(instance.id);
      running.delete(instance.id);
      stopped.push(instance.id);
      if (fake) {
        fake.server.closeAllConnections();
        await new Promise((resolve) => fake.server.close(resolve));
      }
    },
  };
}
