// The local health check: GET <url>/api/health, bounded by a timeout; what verify and supervise observe.
export interface LocalHealth {
  healthy: boolean;
  /** "200 ok", "503 draining", "connection refused", "no answer within 2000 ms". */
  detail: string;
}

export async function checkHealth(url: string, timeoutMs = 2000): Promise<LocalHealth> {
  try {
    const response = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await response.text();
    let status = "";
    try {
      status = String((JSON.parse(body) as { status?: unknown }).status ?? "");
    } catch {
      /* not JSON: the status code says enough */
    }
    return { healthy: response.status === 200, detail: `${response.status}${status ? ` ${status}` : ""}` };
  } catch (error) {
    if ((error as Error).name === "TimeoutError") return { healthy: false, detail: `no answer within ${timeoutMs} ms` };
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { healthy: false, detail: cause?.code === "ECONNREFUSED" ? "connection refused" : (cause?.message ?? (error as Error).message) };
  }
}
