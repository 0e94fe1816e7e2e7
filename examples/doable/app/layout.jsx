// Root layout of the Doable web app: plain HTML, no web fonts (next/font/google would
// download at build time) and no images.
export const metadata = {
  title: "Doable",
  description: "The Doable web app, kept on loopback by bindguard",
};

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
