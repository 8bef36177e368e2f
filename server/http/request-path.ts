// The path of a request without its query string: the one place routes outside the router read it.
import type { IncomingMessage } from "node:http";

export function requestPath(req: IncomingMessage): string {
  const url = req.url ?? "";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}
