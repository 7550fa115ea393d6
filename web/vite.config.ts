import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// The build is committed under the Python package and CI rebuilds it to check it is current:
// keep the output deterministic (content hashes only, no timestamps, fixed chunk names).
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "../src/mcp_acp/web/static",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 600,
    rollupOptions: {
      output: {
        manualChunks: {
          vendor: ["react", "react-dom", "react-router-dom"],
        },
      },
    },
  },
  server: {
    port: 3000,
    strictPort: true,
    proxy: {
      // The manager accepts its own origin; the API token cookie it set on 127.0.0.1 is sent
      // to any port of that host, so open the dev server at http://127.0.0.1:3000.
      "/api": {
        target: "http://127.0.0.1:8765",
        changeOrigin: true,
        configure: (proxy) => {
          proxy.on("proxyReq", (request) => {
            if (request.getHeader("origin")) request.setHeader("origin", "http://127.0.0.1:8765");
          });
        },
      },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
