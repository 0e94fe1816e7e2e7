// Runs after `next build` (npm's postbuild): copies .next/static and public/ next to
// .next/standalone/server.js, as the standalone server expects, so that
// `node .next/standalone/server.js` serves the page with its scripts and styles.
// Exit status: 0 when done, 1 when .next/standalone is missing (the build did not run).
import { cpSync, existsSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const standalone = join(root, ".next", "standalone");
if (!existsSync(join(standalone, "server.js"))) {
  console.error(`copy-standalone-assets: ${standalone}/server.js is missing; run "next build" first`);
  process.exit(1);
}
cpSync(join(root, ".next", "static"), join(standalone, ".next", "static"), { recursive: true });
if (existsSync(join(root, "public"))) {
  cpSync(join(root, "public"), join(standalone, "public"), { recursive: true });
}
console.log("copy-standalone-assets: .next/static (and public/) copied into .next/standalone");
