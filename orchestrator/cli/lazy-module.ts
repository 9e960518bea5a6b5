/**
 * Loads a command's implementation only when the command runs, so `podfleet --help` and usage
 * errors never import the orchestrator. bin/podfleet.js starts the CLI with Node's own type
 * stripping; the implementations use TypeScript Node cannot strip (parameter properties), so the
 * tsx loader is registered here, once, just before the first of them is imported.
 */
let loader: Promise<void> | undefined;

export async function lazyModule<T>(importer: () => Promise<T>): Promise<T> {
  loader ??= import("tsx/esm/api").then((tsx) => {
    tsx.register();
  });
  await loader;
  return importer();
}
