#!/usr/bin/env node
// The podfleet CLI. Its sources are TypeScript: the command tree loads with Node's own type
// stripping (fast help), and each command registers the tsx loader before loading its
// implementation (orchestrator/cli/lazy-module.ts).
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  // `npm run`, `npm test` and `npm exec` put node_modules/.bin (the Node 24 that setup installed) first on PATH.
  console.error(
    `podfleet: needs Node >= 22.19 (24 LTS recommended), this is ${process.version}; run it as \`npm run podfleet -- ...\` or \`npx podfleet ...\` to use the Node that scripts/setup.sh installed`,
  );
  process.exit(1);
}
// V8's compile cache (os.tmpdir()/node-compile-cache) also keeps Node's type-stripped sources:
// the second and later runs skip most of the start-up work.
const { enableCompileCache } = await import("node:module");
enableCompileCache?.();
try {
  await import("../orchestrator/cli/main.ts");
} catch (err) {
  // Node strips types only outside node_modules (and 22.x only with the flag): installed as a
  // dependency, or on such a Node, load everything through tsx instead.
  if (err?.code !== "ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING" && err?.code !== "ERR_UNKNOWN_FILE_EXTENSION") throw err;
  const { register } = await import("tsx/esm/api");
  register();
  await import("../orchestrator/cli/main.ts");
}
