/**
 * The fleet page: machines now and by state over the last hour, queue depth, what blocks new
 * machines, boot failures with their reasons, machine-seconds per audio hour and the estimated
 * cost, and the limits form (validated by the same schema as PUT /v1/fleet/limits).
 */
import type { FleetView } from "../../fleet/fleet-view.ts";
import { STATE_GROUPS, type BootFailureLine, type FleetEconomics, type StateSample } from "../fleet-history.ts";
import { formatSeconds, formatTime, Layout } from "./layout.tsx";

export interface FleetPageProps {
  csrf: string;
  fleet: FleetView;
  history: StateSample[];
  bootFailures: BootFailureLine[];
  economics: FleetEconomics;
  pricePerMachineSecond: number | null;
}

export function FleetPage(props: FleetPageProps) {
  const { fleet, economics: econ } = props;
  const l = fleet.limits;
  const guest =
    "size" in l.guest ? l.guest.size : `${l.guest.cpus} × ${l.guest.cpuKind}, ${l.guest.memoryMb} MB${l.guest.gpuKind ? `, ${l.guest.gpuKind}` : ""}`;
  return (
    <Layout title="Fleet" nav="fleet" csrf={props.csrf}>
      <section id="fleet-now" data-live="true" class="panel" aria-label="Fleet now">
        <dl class="stats">
          <div>
            <dt>Machines live</dt>
            <dd id="machines-live">
              {fleet.machines.live} / {l.maxMachines}
            </dd>
          </div>
          <div>
            <dt>By state</dt>
            <dd>
              {Object.entries(fleet.machines.byState)
                .map(([s, n]) => `${s} ${n}`)
                .join(", ") || "none"}
            </dd>
          </div>
          <div>
            <dt>Queue depth</dt>
            <dd id="queue-depth">
              {fleet.queue.queued} queued, {fleet.queue.leased} running
            </dd>
          </div>
          <div>
            <dt>Used today</dt>
            <dd>
              {formatSeconds(fleet.usage.machineSeconds)}
              {fleet.usage.dailyBudgetMachineSeconds ? ` of ${formatSeconds(fleet.usage.dailyBudgetMachineSeconds)} budget` : ""}
            </dd>
          </div>
        </dl>
        {fleet.blocked ? (
          <p class="warn" role="note">
            No machine starts: {fleet.blocked.reason} — {fleet.blocked.detail}
          </p>
        ) : null}
        {fleet.waiting ? (
          <p class="warn" role="note">
            Queued work waits: {fleet.waiting.detail}
          </p>
        ) : null}
      </section>

      <section id="fleet-history" data-live="true" class="panel" aria-labelledby="hist-h">
        <h2 id="hist-h">Machines by state, last hour</h2>
        <StateChart samples={props.history} />
      </section>

      <section id="economics" data-live="true" class="panel" aria-labelledby="econ-h">
        <h2 id="econ-h">Cost</h2>
        <dl class="stats">
          <div>
            <dt>Machine time</dt>
            <dd>{formatSeconds(econ.machineSeconds)}</dd>
          </div>
          <div>
            <dt>Audio transcribed</dt>
            <dd>{formatSeconds(econ.audioHours * 3600)}</dd>
          </div>
          <div>
            <dt>Machine-seconds per audio hour</dt>
            <dd id="per-audio-hour">{econ.perAudioHour === null ? "–" : Math.round(econ.perAudioHour).toLocaleString("en")}</dd>
          </div>
          <div>
            <dt>Estimated cost</dt>
            <dd>
              {props.pricePerMachineSecond === null
                ? "set PODFLEET_PRICE_PER_MACHINE_SECOND"
                : `${econ.cost!.toFixed(4)} (${econ.costPerAudioHour === null ? "–" : econ.costPerAudioHour.toFixed(4)} per audio hour at ${props.pricePerMachineSecond} per machine-second)`}
            </dd>
          </div>
        </dl>
      </section>

      <section id="boot-failures" data-live="true" class="panel" aria-labelledby="boot-h">
        <h2 id="boot-h">Boot failures</h2>
        {fleet.bootFailure ? <p class="warn">{fleet.bootFailure.detail}</p> : null}
        {props.bootFailures.length === 0 ? (
          <p class="empty">No worker has failed to start.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Machine</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {props.bootFailures.map((b) => (
                <tr>
                  <td>{formatTime(b.at)}</td>
                  <td class="mono">{b.machineId}</td>
                  <td class="error-text">{b.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section class="panel" aria-labelledby="limits-h">
        <h2 id="limits-h">Limits</h2>
        <form method="post" action="/ui/fleet/limits" class="action limits" id="limits-form">
          <input type="hidden" name="_csrf" value={props.csrf} />
          <NumberField name="maxMachines" label="Most machines alive (0 drains)" value={l.maxMachines} />
          <NumberField name="maxStarting" label="Most machines booting at once" value={l.maxStarting} />
          <NumberField name="idleTimeoutSec" label="Idle timeout (s)" value={l.idleTimeoutSec} />
          <NumberField name="maxLifetimeSec" label="Longest machine life (s)" value={l.maxLifetimeSec} />
          <NumberField name="warmPool" label="Warm pool (stopped machines kept)" value={l.warmPool} />
          <NumberField name="dailyBudgetMachineSeconds" label="Daily budget, machine-seconds (empty: none)" value={l.dailyBudgetMachineSeconds} />
          <label>
            Regions <span class="hint">(comma-separated, in order)</span>
            <input type="text" name="regions" value={l.regions.join(", ")} />
          </label>
          <label>
            Worker image
            <input type="text" name="image" value={l.image} required />
          </label>
          <p class="hint">
            Machine size: {guest} (change it with <code>PUT /v1/fleet/limits</code>).
          </p>
          <button type="submit">Save limits</button>
        </form>
      </section>
    </Layout>
  );
}

function NumberField(props: { name: string; label: string; value: number | null }) {
  return (
    <label>
      {props.label}
      <input type="text" inputmode="numeric" name={props.name} value={props.value === null ? "" : String(props.value)} size={8} />
    </label>
  );
}

const CHART_W = 900;
const CHART_H = 120;

function StateChart(props: { samples: StateSample[] }) {
  const max = Math.max(1, ...props.samples.map((s) => STATE_GROUPS.reduce((n, g) => n + s.counts[g], 0)));
  const step = CHART_W / Math.max(1, props.samples.length);
  const now = props.samples[props.samples.length - 1];
  return (
    <figure class="state-chart">
      <svg
        viewBox={`0 0 ${CHART_W} ${CHART_H + 16}`}
        width="100%"
        role="img"
        aria-label={`Machines by state each minute of the last hour; now: ${now ? STATE_GROUPS.map((g) => `${now.counts[g]} ${g}`).join(", ") : "none"}`}
      >
        {props.samples.map((s, i) => {
          let y = CHART_H;
          return (
            <g>
              {STATE_GROUPS.map((g) => {
                const h = (s.counts[g] / max) * (CHART_H - 4);
                y -= h;
                return h > 0 ? <rect class={`g-${g}`} x={i * step + 1} y={y} width={Math.max(1, step - 2)} height={h} /> : null;
              })}
              <title>{`${formatTime(s.at)}: ${STATE_GROUPS.map((g) => `${s.counts[g]} ${g}`).join(", ")}`}</title>
            </g>
          );
        })}
        <text x={0} y={CHART_H + 14} class="axis">
          −60 min
        </text>
        <text x={CHART_W} y={CHART_H + 14} class="axis" text-anchor="end">
          now (max {max})
        </text>
      </svg>
      <figcaption>
        <ul class="legend">
          {STATE_GROUPS.map((g) => (
            <li>
              <span class={`swatch g-${g}`} aria-hidden="true"></span>
              {g}
            </li>
          ))}
        </ul>
      </figcaption>
    </figure>
  );
}
