import { defineConfig } from "vitest/config";

// Tests import sibling packages from their sources (the "@postage/source" export condition),
// so a fresh clone can run them without building first.
export default defineConfig({
  resolve: { conditions: ["@postage/source"] },
  ssr: { resolve: { conditions: ["@postage/source"] } },
  test: {
    include: ["packages/*/src/**/*.test.ts", "packages/*/test/**/*.test.ts", "apps/*/src/**/*.test.ts", "apps/*/test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default", ["junit", { outputFile: ".test-results/junit.xml" }]],
  },
});
