import { defineConfig } from "vitest/config";

// `npm run test:faults`: the suites that break RabbitMQ nodes on purpose (a disposable node on
// 5673, a 3-node cluster on 5674-5676; never the main broker). Their files end in `.faults.ts`
// so the default `npm test` does not pick them up. Files run one after another: they share nodes.
export default defineConfig({
  resolve: { conditions: ["@postage/source"] },
  ssr: { resolve: { conditions: ["@postage/source"] } },
  test: {
    include: ["packages/*/test/**/*.faults.ts"],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 180_000,
    reporters: ["default", ["junit", { outputFile: ".test-results/junit-faults.xml" }]],
  },
});
