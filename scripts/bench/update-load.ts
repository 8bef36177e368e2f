// Load for an update on one host: client loops of health, stats and a fresh upload, each answer recorded with its time, route, status and the version that gave it.
import { createHash } from "node:crypto";

export interface Answer {
  at: number;
  route: "/api/health" | "/api/stats" | "/api/analyze";
  /** HTTP status, or 0 when no answer came (connection refused or reset, timeout). */
  status: number;
  /** Health: the version that answered and its status ("healthy", "draining", …). */
  version: string | null;
  healthStatus: string | null;
  error: string | null;
}

export interface UpdateLoad {
  answers: Answer[];
  /** file_hash → sha256 of what was sent, for each upload answered 200. */
  acknowledged: Map<string, string>;
}

/** `clients` loops until stopped; each waits for its answer before the next request, so every answer belongs to its request. Without `uploads`: health and stats only (light load). */
export function startUpdateLoad(url: string, clients: number, { uploads = true }: { uploads?: boolean } = {}): { stop: () => Promise<UpdateLoad> } {
  const answers: Answer[] = [];
  const acknowledged = new Map<string, string>();
  let running = true;
  let n = 0;
  const one = async (route: Answer["route"], init?: RequestInit): Promise<Record<string, unknown> | null> => {
    try {
      const response = await fetch(`${url}${route}`, { ...init, signal: AbortSignal.timeout(60_000) });
      const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
      const health = route === "/api/health";
      answers.push({ at: performance.now(), route, status: response.status, version: health ? String(body.version ?? "") : null, healthStatus: health ? String(body.status ?? "") : null, error: null });
      return response.status === 200 ? body : null;
    } catch (error) {
      answers.push({ at: performance.now(), route, status: 0, version: null, healthStatus: null, error: (error as Error).message });
      return null;
    }
  };
  const client = async (c: number) => {
    while (running) {
      await one("/api/health");
      await one("/api/stats");
      if (!uploads) continue;
      const code = `def f_${c}_${(n += 1)}_${process.pid}():\n    """Load."""\n    return ${n}\n`;
      const form = new FormData();
      form.append("file", new Blob([code]), `load_${n}.py`);
      const body = await one("/api/analyze", { method: "POST", body: form });
      if (typeof body?.file_hash === "string") acknowledged.set(body.file_hash, createHash("sha256").update(code).digest("hex"));
    }
  };
  const loops = Array.from({ length: clients }, (_, c) => client(c));
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return { answers, acknowledged };
    },
  };
}

/** Answers that are failures to the client: no answer, or not 200 — except a health check answered "draining" by the version on its way out (its listener already closed). */
export function failedAnswers(answers: Answer[]): Answer[] {
  return answers.filter((a) => a.status !== 200 && !(a.route === "/api/health" && a.status === 503 && a.healthStatus === "draining"));
}
