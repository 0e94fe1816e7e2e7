// GET /api/health: a liveness answer for tests and the reverse proxy.
// Dynamic, so every request reaches the running server (nothing prerendered at build time).
export const dynamic = "force-dynamic";

export function GET() {
  return Response.json({ ok: true, service: "web" });
}
