#!/usr/bin/env node
// The `postage` command. The program is compiled to dist/ by `npm run build`.
import { existsSync } from "node:fs";

const main = new URL("../dist/main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write("postage: not built yet: run `npm run build` in the repository first\n");
  process.exit(2);
}
await import(main.href);
