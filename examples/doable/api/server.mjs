// The Doable API: a Hono app served by @hono/node-server.
//   PORT      port to listen on (default 4000)
//   API_HOST  address to listen on; when unset, no host is passed at all and Node binds
//             its default `::` (all interfaces) — the case bindguard must bring to loopback.
// Prints one line "api: listening on ADDRESS:PORT" once the socket listens, with the
// address read back from the socket.
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { closeOnSignals, describeAddress, hostFromEnv, portFromEnv } from "../lib/listen.mjs";

const app = new Hono();
app.get("/health", (c) => c.json({ ok: true, service: "api" }));
app.get("/", (c) => c.text("Doable API\n"));

const options = { fetch: app.fetch, port: portFromEnv(4000) };
const host = hostFromEnv("API_HOST");
if (host !== undefined) options.hostname = host;

const server = serve(options, () => {
  console.log(`api: listening on ${describeAddress(server)}`);
});
server.on("error", (error) => {
  console.error(`api: cannot listen: ${error.message}`);
  process.exit(1);
});
closeOnSignals("api", server);
