/**
 * What, besides the fleet limits, decides whether a worker boots: the engine and model the
 * orchestrator hands it, and on the local runtime (where the orchestrator shares the workers'
 * disk) whether the model file is there. Read before every pass: a change restarts the boot-failure
 * back-off at once, so an operator who pulls the missing model sees the next machine start without
 * waiting out the back-off or restarting anything. On Fly the model lives in the image (or its
 * volume), which the orchestrator cannot see: there the next probe after the back-off finds it.
 */
import { stat } from "node:fs/promises";
import type { Config } from "../config.ts";

/** A string that changes whenever the worker settings (or the local model file) change. */
export function workerSettingsProbe(config: Pick<Config, "engine" | "whisperModel" | "modelsDir" | "machines">): () => Promise<string> {
  const model = config.whisperModel ?? "base.en";
  const modelsDir = config.modelsDir ?? "/models";
  return async () => {
    const settings: Record<string, unknown> = { engine: config.engine, model: config.whisperModel ?? null };
    if (config.machines.kind === "local" && config.engine === "whisper") {
      // loaded only on the local runtime: the worker image's code is not in the orchestrator image
      const { resolveModelPath } = await import("../../machine-image/worker/whisper-model.ts");
      const file = resolveModelPath(modelsDir, model);
      settings.modelFile = await stat(file).then(
        (s) => `${file} ${s.size} ${s.mtimeMs}`,
        () => `${file} missing`,
      );
    }
    return JSON.stringify(settings);
  };
}
