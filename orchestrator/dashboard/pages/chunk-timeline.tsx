/**
 * SVG views of an episode's chunks. The timeline has one lane per machine and one bar per
 * attempt, placed by wall-clock time and coloured by outcome (each bar has a <title> for hover
 * and screen readers). The audio strip below places chunks on the audio's own time axis, with
 * seams (cuts in a silence) and overlaps (no silence near the target: the chunks share audio)
 * marked.
 */
import type { AttemptBar, PlanSpan } from "../episode-detail.ts";
import { formatSeconds } from "./layout.tsx";

const WIDTH = 900;
const LABEL = 150;
const LANE = 22;
const PLOT = WIDTH - LABEL - 10;

export function ChunkTimeline(props: { attempts: AttemptBar[]; span: { from: number; to: number } }) {
  const lanes = [...new Set(props.attempts.map((a) => a.machineId))];
  if (lanes.length === 0) return <p class="empty">No attempts yet: no machine has claimed a chunk of this episode.</p>;
  const total = Math.max(1, props.span.to - props.span.from);
  const x = (t: number) => LABEL + ((t - props.span.from) / total) * PLOT;
  const height = lanes.length * LANE + 24;
  return (
    <figure class="timeline">
      <svg
        viewBox={`0 0 ${WIDTH} ${height}`}
        width="100%"
        role="img"
        aria-label={`Chunk attempts on ${lanes.length} machines over ${formatSeconds(total / 1000)}`}
      >
        {lanes.map((m, i) => (
          <g>
            <text x={4} y={i * LANE + 15} class="lane-label">
              {m}
            </text>
            <line x1={LABEL} x2={WIDTH - 10} y1={i * LANE + LANE - 1} y2={i * LANE + LANE - 1} class="lane-line" />
          </g>
        ))}
        {props.attempts.map((a) => {
          const lane = lanes.indexOf(a.machineId);
          const x0 = x(a.start);
          const w = Math.max(2, x(a.end) - x0);
          return (
            <g class={`bar o-${a.outcome}`} data-chunk={a.chunkIndex}>
              <rect x={x0} y={lane * LANE + 3} width={w} height={LANE - 6} rx={2} />
              {w > 18 ? (
                <text x={x0 + 3} y={lane * LANE + 15} class="bar-label">
                  {a.chunkIndex}
                </text>
              ) : null}
              <title>{`chunk ${a.chunkIndex} on ${a.machineId}: ${a.outcome}, ${formatSeconds((a.end - a.start) / 1000)}${a.detail ? ` — ${a.detail}` : ""}`}</title>
            </g>
          );
        })}
        <text x={LABEL} y={height - 4} class="axis">
          0 s
        </text>
        <text x={WIDTH - 10} y={height - 4} class="axis" text-anchor="end">
          {formatSeconds(total / 1000)}
        </text>
      </svg>
      <figcaption>
        <Legend items={["done", "running", "requeued", "failed", "cancelled"]} prefix="o" />
      </figcaption>
    </figure>
  );
}

export function AudioPlanStrip(props: { plan: PlanSpan[]; durationSec: number | null }) {
  if (props.plan.length === 0) return <p class="empty">The audio has not been cut yet.</p>;
  const total = Math.max(0.001, props.durationSec ?? props.plan[props.plan.length - 1]!.endSec);
  const x = (s: number) => 10 + (s / total) * (WIDTH - 20);
  const seams = props.plan.slice(0, -1);
  return (
    <figure class="plan">
      <svg viewBox={`0 0 ${WIDTH} 44`} width="100%" role="img" aria-label={`${props.plan.length} chunks over ${formatSeconds(total)} of audio`}>
        {props.plan.map((c) => (
          <g class={`chunk ${c.index % 2 ? "odd" : "even"}`}>
            <rect x={x(c.startSec)} y={6} width={Math.max(1, x(c.endSec) - x(c.startSec))} height={18} />
            <title>{`chunk ${c.index}: ${c.startSec.toFixed(2)}–${c.endSec.toFixed(2)} s`}</title>
          </g>
        ))}
        {seams.map((c) =>
          c.overlapSec > 0 ? (
            <g class="overlap">
              <rect x={x(c.endSec - c.overlapSec)} y={2} width={Math.max(2, x(c.endSec) - x(c.endSec - c.overlapSec))} height={26} />
              <title>{`overlap of ${c.overlapSec.toFixed(1)} s after chunk ${c.index}: ${c.reason}`}</title>
            </g>
          ) : (
            <g class="seam">
              <line x1={x(c.endSec)} x2={x(c.endSec)} y1={2} y2={28} />
              <title>{`seam after chunk ${c.index}: ${c.reason}`}</title>
            </g>
          ),
        )}
        <text x={10} y={40} class="axis">
          0 s
        </text>
        <text x={WIDTH - 10} y={40} class="axis" text-anchor="end">
          {formatSeconds(total)}
        </text>
      </svg>
      <figcaption>
        Chunks on the audio: <span class="key seam">seam in a silence</span> <span class="key overlap">overlap (no silence near the cut)</span>
      </figcaption>
    </figure>
  );
}

function Legend(props: { items: string[]; prefix: string }) {
  return (
    <ul class="legend">
      {props.items.map((i) => (
        <li>
          <span class={`swatch ${props.prefix}-${i}`} aria-hidden="true"></span>
          {i}
        </li>
      ))}
    </ul>
  );
}
