// Next.js configuration of the Doable web app.
// output "standalone" makes `next build` emit .next/standalone/server.js, a self-contained
// server that binds $HOSTNAME:$PORT (default 0.0.0.0:3000) — the case bindguard must bring
// back to loopback when HOSTNAME names a real, non-loopback address.

/** @type {import('next').NextConfig} */
const nextConfig = {
  output: "standalone",
  // Trace files from this folder only, so .next/standalone/server.js sits at the top of
  // .next/standalone/ instead of under a path mirroring the repository.
  outputFileTracingRoot: import.meta.dirname,
  // No image optimisation: keeps the build and the server free of sharp at run time.
  images: { unoptimized: true },
  poweredByHeader: false,
};

export default nextConfig;
