/**
 * Test helpers for the fleet: a whole orchestrator (embedded nats-server, libSQL, local machines
 * runtime running real workers) on a temp data dir with fast fleet passes; a recorder of the
 * runtime's own machine states (to check the cap without trusting the orchestrator); and
 * synthesized speech episodes cut into short chunks.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseConfig } from "../../orchestrator/config.ts";
import type { LocalMachinesRuntime } from "../../orchestrator/fleet/local-runtime.ts";
import { sleeperLaunch, writeSleeperScript } from "./sleeper-machine.ts";
import type { Machine, MachineState } from "../../orchestrator/fleet/machine.ts";
import { createLogger } from "../../orchestrator/log.ts";
import { startOrchestrator, type Orchestrator } from "../../orchestrator/orchestrator.ts";
import { authHeaders, rememberToken } from "./auth.ts";
import type { CleanupContext } from "./cleanup.ts";
import { synthesizeEpisode } from "./speech.ts";

// Kept here for the tests that import it from this module; new code imports ./until.ts.
export { until } from "./until.ts";

/** Images the test launch understands: the real worker (default), a sleeper, and one that cannot start. */
export const SLEEPER_IMAGE = "podfleet-test-sleeper";
export const BROKEN_IMAGE = "podfleet-test-broken";

export interface FleetStackOptions {
  /** Added to the env of every real worker the runtime starts (as the image's own ENV would be). */
  workerEnv?: Record<string, string>;
  /** Receives every orchestrator log line (JSON) at PODFLEET_LOG_LEVEL, instead of nowhere. */
  logLines?: string[];
}

export async function startFleetStack(t: CleanupContext, env: Record<string, string> = {}, options: FleetStackOptions = {}): Promise<Orchestrator> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-fleet-"));
  const sleeper = sleeperLaunch(writeSleeperScript(dataDir));
  const config = parseConfig(
    {
      PODFLEET_ALLOW_PRIVATE_URLS: "1",
      PODFLEET_LOG_LEVEL: "silent",
      PODFLEET_MAX_MACHINES: "2",
      PODFLEET_CHUNK_SECONDS: "4",
      // tiny chunks for speed; context padding has its own test (padded-chunks) and would double every chunk here
      PODFLEET_CHUNK_PAD_SECONDS: "0",
      PODFLEET_IDLE_TIMEOUT_SEC: "2",
      PODFLEET_AUTOSCALE_INTERVAL_MS: "500",
      PODFLEET_SWEEP_INTERVAL_MS: "1000",
      PODFLEET_WORKER_STOP_TIMEOUT_SEC: "5",
      ...env,
    },
    { dataDir, port: 0, host: "127.0.0.1" },
  );
  const lines = options.logLines;
  const logger = lines ? createLogger(config.logLevel, {}, (line) => lines.push(line)) : createLogger(config.logLevel);
  const orchestrator = await startOrchestrator(config, logger, {
    launch: (m: Machine, worker) => {
      const image = m.config?.image ?? "";
      if (image === SLEEPER_IMAGE) return sleeper(m);
      if (image === BROKEN_IMAGE) return { command: path.join(dataDir, "no-such-binary"), args: [], env: {} };
      // the compiled worker bundle, as the orchestrator runs it
      return options.workerEnv ? { ...worker, env: { ...worker.env, ...options.workerEnv } } : worker;
    },
  });
  rememberToken(orchestrator.url, orchestrator.adminToken);
  t.after(async () => {
    await orchestrator.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  return orchestrator;
}

const NOT_LIVE: readonly MachineState[] = ["stopped", "suspended", "failed", "destroyed", "launch_failed"];

/** Follows the runtime's own 'state' events: live machines at every instant, and every state seen. */
export class RuntimeRecorder {
  readonly states = new Map<string, MachineState>();
  readonly log: Array<{ at: number; id: string; state: MachineState }> = [];
  maxLive = 0;
  created = 0;
  readonly #listener = (m: Machine) => this.#on(m);

  constructor(private readonly runtime: LocalMachinesRuntime) {
    for (const m of runtime.snapshot()) this.states.set(m.id, m.state);
    runtime.on("state", this.#listener);
  }

  #on(m: Machine): void {
    if (!this.states.has(m.id)) this.created += 1;
    this.states.set(m.id, m.state);
    this.log.push({ at: Date.now(), id: m.id, state: m.state });
    this.maxLive = Math.max(this.maxLive, this.live());
  }

  live(): number {
    return [...this.states.values()].filter((s) => !NOT_LIVE.includes(s)).length;
  }

  /** Time of the first event matching, or undefined. */
  firstAt(state: MachineState, after = 0): number | undefined {
    return this.log.find((e) => e.state === state && e.at >= after)?.at;
  }

  stop(): void {
    this.runtime.off("state", this.#listener);
  }
}

const SENTENCES = [
  "The garden was quiet in the morning and the roses were open.",
  "A small bird sang from the hedge near the old gate.",
  "After lunch we walked down to the river to watch the boats.",
  "The bridge was made of stone and it was very old.",
  "Then we went home for tea and sat by the window.",
  "The rain came in the evening and the street was wet.",
  "My brother read a book about ships and the sea.",
  "We planted beans and lettuce in the corner of the yard.",
  "The market was busy and the bread smelled warm and sweet.",
  "At night the sky was clear and the stars were bright.",
  "The dog slept by the fire until the morning came.",
  "In the spring the trees were green and full of birds.",
];

/** An episode of `n` short spoken sentences with pauses: about `n` chunks at 4 s. */
export async function speechEpisode(dir: string, n: number): Promise<string> {
  const episode = await synthesizeEpisode({ paragraphs: SENTENCES.slice(0, n), dir, pauseSec: 1.0 });
  return episode.path;
}

/** Uploads an audio file as a new episode; returns its id. */
export async function submitFile(base: string, file: string): Promise<string> {
  const res = await fetch(new URL("/v1/episodes?title=fleet", base), {
    method: "POST",
    headers: { "content-type": "audio/wav", ...authHeaders(base) },
    body: fs.readFileSync(file),
  });
  if (res.status !== 202) throw new Error(`submit failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}
