// A recording AWS endpoint on loopback for the calls moto lacks (CloudFormation SignalResource, Auto Scaling CompleteLifecycleAction):
// it keeps every request's Action and parameters (the query protocol's form body) and answers from a script of status codes.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedCall {
  action: string;
  params: Record<string, string>;
}

const XMLNS: Record<string, string> = { "2010-05-15": "http://cloudformation.amazonaws.com/doc/2010-05-15/", "2011-01-01": "http://autoscaling.amazonaws.com/doc/2011-01-01/" };

/** The calls recorded (moto lacks them); with `forward`, every other request goes to moto at that URL and its answer comes back. */
export const RECORDED_ACTIONS = ["SignalResource", "CompleteLifecycleAction"];

/** `script` is consumed one status per recorded request (then 200): 503 to test retries, 400 for a refusal. */
export async function startRecordingAws(script: number[] = [], forward: string | null = null): Promise<{ url: string; calls: RecordedCall[]; script: number[]; stop: () => Promise<void> }> {
  const calls: RecordedCall[] = [];
  const server = http.createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", async () => {
      const params = Object.fromEntries(new URLSearchParams(body));
      const { Action: action = "?", Version: version = "?", ...rest } = params;
      if (forward && !RECORDED_ACTIONS.includes(action)) {
        const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => !["host", "content-length", "connection"].includes(name)).map(([name, value]) => [name, String(value)]));
        const answer = await fetch(`${forward}${request.url}`, { method: request.method, headers, body: request.method === "GET" || request.method === "HEAD" ? undefined : body });
        return void response.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "text/xml" }).end(Buffer.from(await answer.arrayBuffer()));
      }
      calls.push({ action, params: rest });
      const status = script.shift() ?? 200;
      const xmlns = XMLNS[version] ?? "";
      if (status === 200) {
        return void response.writeHead(200, { "content-type": "text/xml" }).end(`<${action}Response xmlns="${xmlns}"><${action}Result/><ResponseMetadata><RequestId>rec-${calls.length}</RequestId></ResponseMetadata></${action}Response>`);
      }
      const [type, code, message] = status >= 500 ? ["Receiver", "ServiceUnavailable", "try again"] : ["Sender", "ValidationError", "Stack prod does not exist"];
      response.writeHead(status, { "content-type": "text/xml" }).end(`<ErrorResponse xmlns="${xmlns}"><Error><Type>${type}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>rec-${calls.length}</RequestId></ErrorResponse>`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls, script, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}
