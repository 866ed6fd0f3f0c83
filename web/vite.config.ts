import { defineConfig } from "vite";

// Preact through the automatic JSX runtime (tsconfig's jsxImportSource); no plugin needed.
// `npm run dev` proxies the API (start it with `make run`) so the app runs on Vite's server.
const api = process.env.VPP_API_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  build: {
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: true,
    chunkSizeWarningLimit: 200,
  },
  server: {
    proxy: {
      "/graphql": { target: api, ws: true },
      "/config.json": api,
    },
  },
});
