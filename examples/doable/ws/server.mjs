// The Doable WebSocket server: a `ws` WebSocketServer that echoes every message back, on an
// HTTP server that also answers GET /health with {"ok":true,"service":"ws"}.
//   PORT     port to listen on (default 4001)
//   WS_HOST  address to listen on; when unset, no host is passed at all and Node binds its
//            default `::` (all interfaces) — the case bindguard must bring to loopback.
// Prints one line "ws: listening on ADDRESS:PORT" once the socket listens, with the
// address read back from the socket.
import { createServer } from "node:http";
import { WebSocketServer } from "ws";
import { closeOnSignals, describeAddress, hostFromEnv, portFromEnv } from "../lib/listen.mjs";

const server = createServer((request, response) => {
  if (request.method === "GET" && request.url === "/health") {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ ok: true, service: "ws" }));
    return;
  }
  response.writeHead(404, { "content-type": "text/plain" });
  response.end("not found\n");
});

const sockets = new WebSocketServer({ server });
sockets.on("connection", (socket) => {
  socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
});

server.on("error", (error) => {
  console.error(`ws: cannot listen: ${error.message}`);
  process.exit(1);
});
const onListening = () => console.log(`ws: listening on ${describeAddress(server)}`);
const host = hostFromEnv("WS_HOST");
if (host === undefined) server.listen(portFromEnv(4001), onListening);
else server.listen(portFromEnv(4001), host, onListening);

closeOnSignals("ws", server, () => {
  for (const client of sockets.clients) client.terminate();
  sockets.close();
});
