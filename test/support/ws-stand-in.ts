/**
 * A local WebSocket server (the `ws` package) standing in for a third-party
 * streaming API: it authenticates each upgrade request with a test-supplied
 * check (answering 401 on the upgrade when it fails), records every socket
 * with its credential and open/close times, and drops sockets on command.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { type WebSocket, WebSocketServer } from "ws";

/** One accepted socket. */
export interface ServerSocket {
  readonly socket: WebSocket;
  /** The Authorization header (or the query) it authenticated with. */
  readonly credential: string;
  readonly openedAt: number;
  closedAt: number | undefined;
  closeCode: number | undefined;
}

/** A running stand-in. */
export interface WsStandIn {
  /** `ws://127.0.0.1:PORT/stream`. */
  readonly url: string;
  readonly sockets: ServerSocket[];
  /** Upgrade requests refused with 401. */
  readonly refused: string[];
  /** Decides whether an upgrade request is authenticated. */
  authorize: (req: IncomingMessage) => boolean | Promise<boolean>;
  /** Called for each accepted socket (e.g. to drop it at once). */
  onConnection: (s: ServerSocket) => void;
  /** Closes every open socket from the server side. */
  dropAll(code?: number): void;
  /** The sockets still open. */
  open(): ServerSocket[];
  close(): Promise<void>;
}

/** Starts a stand-in on 127.0.0.1 with an ephemeral port. */
export async function startWsStandIn(): Promise<WsStandIn> {
  const wss = new WebSocketServer({ noServer: true });
  const server: Server = createServer((_req, res) => {
    res.writeHead(426);
    res.end();
  });
  const stand: WsStandIn = {
    url: "",
    sockets: [],
    refused: [],
    authorize: () => true,
    onConnection: () => {},
    dropAll(code = 1011) {
      for (const s of stand.open()) s.socket.close(code, "dropped by the test");
    },
    open: () => stand.sockets.filter((s) => s.closedAt === undefined),
    close: () => new Promise<void>((resolve) => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const credential = req.headers.authorization ?? req.headers["x-api-key"]?.toString() ?? new URL(req.url ?? "/", "http://x").search;
    Promise.resolve(stand.authorize(req)).then((ok) => {
      if (!ok) {
        stand.refused.push(String(credential));
        socket.end("HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        const record: ServerSocket = { socket: ws, credential: String(credential), openedAt: Date.now(), closedAt: undefined, closeCode: undefined };
        stand.sockets.push(record);
        ws.on("close", (code) => {
          record.closedAt = Date.now();
          record.closeCode = code;
        });
        ws.on("message", (data) => ws.send(`echo:${String(data)}`));
        stand.onConnection(record);
      });
    }, () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  (stand as { url: string }).url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/stream`;
  return stand;
}
