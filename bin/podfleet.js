#!/usr/bin/env node
// The podfleet CLI. The sources are TypeScript, run as they are through tsx's loader.
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  // `npm run`, `npm test` and `npm exec` put node_modules/.bin (the Node 24 that setup installed) first on PATH.
  console.error(`podfleet: needs Node >= 22.19 (24 LTS recommended), this is ${process.version}; run it as \`npm run podfleet -- ...\` or \`npx podfleet ...\` to use the Node that scripts/setup.sh installed`);
  process.exit(1);
}
const { register } = await import("tsx/esm/api");
register();
await import("../orchestrator/cli/main.ts");
