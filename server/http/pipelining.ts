// Pipelined requests on one connection are handled one at a time, a bounded number may wait, and an answer the client does not read is cut off.
//
// Node parses every request a client has already sent and calls the listener for each at once; the answers are
// kept in memory until the earlier ones are sent. A client that sends a hundred requests for a large answer and
// never reads would make the server build and hold a hundred answers. Here the next request on a connection is
// handled only once the answer before it has been handed to the operating system ("finish"), so a connection holds
// at most one answer; a client that pipelines more than `maxWaiting` requests behind it is disconnected; and an
// answer still unsent `sendTimeoutMs` after it was complete (the client is not reading) closes the connection.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Logger } from "pino";

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

interface Connection {
  busy: boolean;
  waiting: Array<() => void>;
}

export interface PipeliningOptions {
  maxWaiting: number;
  sendTimeoutMs: number;
  logger: Logger;
}

export function onePerConnection(listener: Listener, options: PipeliningOptions): Listener {
  const connections = new WeakMap<Socket, Connection>();

  const handle = (connection: Connection, req: IncomingMessage, res: ServerResponse) => {
    connection.busy = true;
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      res.off("finish", done);
      res.off("close", done);
      connection.busy = false;
      // a closed connection's waiting requests can no longer be answered: not handled at all
      if (req.socket.destroyed) connection.waiting.length = 0;
      else connection.waiting.shift()?.();
    };
    res.once("finish", done);
    res.once("close", done);
    // "prefinish": the answer is complete and is now being sent (its connection is free of earlier answers)
    res.once("prefinish", () => {
      timer = setTimeout(() => {
        options.logger.warn({ method: req.method, path: req.url, send_timeout_ms: options.sendTimeoutMs }, "answer not read by the client in time: connection closed");
        res.destroy();
      }, options.sendTimeoutMs);
      timer.unref();
    });
    listener(req, res);
  };

  return (req, res) => {
    const socket = req.socket;
    let connection = connections.get(socket);
    if (!connection) {
      connection = { busy: false, waiting: [] };
      connections.set(socket, connection);
    }
    if (!connection.busy) return handle(connection, req, res);
    if (connection.waiting.length >= options.maxWaiting) {
      options.logger.warn({ method: req.method, path: req.url, max_pipelined: options.maxWaiting }, "too many pipelined requests on one connection: closed");
      socket.destroy();
      return;
    }
    const waitingConnection = connection;
    connection.waiting.push(() => handle(waitingConnection, req, res));
  };
}
