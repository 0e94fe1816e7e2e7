// Shared helpers of the API and WS servers: where to listen, and how to say where they did.

// Returns the port named by the PORT environment variable, or fallback when PORT is unset
// or empty. Exits the process with status 2 and a message naming PORT when the value is
// not an integer in 0-65535 (0 asks the kernel for a free port).
export function portFromEnv(fallback) {
  const text = process.env.PORT;
  if (text === undefined || text === "") return fallback;
  if (!/^\d+$/.test(text) || Number(text) > 65535) {
    console.error(`PORT=${JSON.stringify(text)}: not a port number (0-65535)`);
    process.exit(2);
  }
  return Number(text);
}

// Returns the host named by the environment variable `name`, or undefined when it is unset
// or empty. Undefined must then be passed on as "no host at all", so that Node applies its
// own default (`::`, dual-stack) — the default-host case that bindguard has to correct.
export function hostFromEnv(name) {
  const text = process.env[name];
  return text === undefined || text === "" ? undefined : text;
}

// Returns "ADDRESS:PORT" for a listening server (IPv6 addresses in brackets), as read back
// from the socket with server.address(), i.e. after any rewrite by bindguard.
export function describeAddress(server) {
  const info = server.address();
  if (info === null || typeof info === "string") return String(info);
  const host = info.family === "IPv6" ? `[${info.address}]` : info.address;
  return `${host}:${info.port}`;
}

// Closes server on SIGTERM and SIGINT and exits 0, so that a test or systemd stopping the
// service sees a clean exit. A second signal, or a close that takes over 3 s, exits 1.
export function closeOnSignals(serviceName, server, extraClose = () => {}) {
  let stopping = false;
  const stop = (signal) => {
    if (stopping) process.exit(1);
    stopping = true;
    console.log(`${serviceName}: ${signal}, closing`);
    extraClose();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(1), 3000).unref();
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}
