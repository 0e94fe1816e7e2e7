// One WebSocket round trip against the Doable WS server, for tests and by hand.
//   node scripts/ws-roundtrip.mjs [PORT | ws://HOST:PORT/PATH]     (default port 4001)
// Connects to ws://127.0.0.1:PORT (or the URL given), sends "ping" and waits for the echo.
// Exit status: 0 when "ping" came back, 1 on any failure or after 5 s, 2 on a bad argument.
// Prints one line saying what happened: on stdout when it worked, on stderr otherwise.
import WebSocket from "ws";

const argument = process.argv[2] ?? "4001";
let url;
if (/^\d+$/.test(argument) && Number(argument) >= 1 && Number(argument) <= 65535) {
  url = `ws://127.0.0.1:${argument}/`;
} else if (/^wss?:\/\//.test(argument)) {
  url = argument;
} else {
  console.error(`ws-roundtrip: ${JSON.stringify(argument)} is neither a port (1-65535) nor a ws:// URL`);
  process.exit(2);
}

const fail = (why) => {
  console.error(`ws-roundtrip: ${url}: ${why}`);
  process.exit(1);
};
setTimeout(() => fail("no echo within 5 s"), 5000);

const socket = new WebSocket(url);
socket.on("error", (error) => fail(error.message));
socket.on("close", (code) => fail(`closed (code ${code}) before the echo`));
socket.on("open", () => socket.send("ping"));
socket.on("message", (data) => {
  const text = data.toString();
  if (text !== "ping") fail(`expected "ping" back, got ${JSON.stringify(text)}`);
  console.log(`ws-roundtrip: ${url}: ping echoed`);
  socket.close();
  process.exit(0);
});
