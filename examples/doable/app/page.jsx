// The one page of the Doable web app.
export default function HomePage() {
  return (
    <main>
      <h1>Doable web app</h1>
      <p>This is the Doable web app. It listens on 127.0.0.1:3000; the reverse proxy is its only way in.</p>
    </main>
  );
}
