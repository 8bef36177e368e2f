// Closing a connection whose request body is still arriving, so that the client reads the answer rather than a reset.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** How long a client still sending a refused body gets to read the answer after it, before the connection is cut. */
const LINGER_MS = 1_000;

const lingering = new WeakSet<Socket>();

/**
 * Marks the answer as the connection's last, and makes its end a lingering close: after the answer Node would close
 * the socket at once, and closing with unread data sends a reset that makes many clients lose the answer. Instead the
 * server sends its FIN after the answer, reads nothing more, and cuts the connection when the client closes or after
 * LINGER_MS, whichever comes first.
 */
export function closeAfterAnswer(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader("Connection", "close");
  const socket = req.socket as Socket & { destroySoon?: () => void };
  if (lingering.has(socket)) return;
  lingering.add(socket);
  socket.destroySoon = () => {
    // Node has just dumped the request (reading on): what it was about to read is left unread instead
    req.pause();
    socket.pause();
    socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once("close", () => clearTimeout(timer));
  };
}
