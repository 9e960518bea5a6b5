/**
 * A picture of an episode's run: one row per machine, one bar per chunk from its lease to its
 * result, as an SVG file (no dependencies; opens in any browser). The demo writes it next to the
 * transcript so a newcomer sees the chunks run side by side on the fleet.
 */
import type { ChunkView } from "../episodes/episode-service.ts";

const ROW = 28;
const LEFT = 150;
const WIDTH = 900;
const COLORS: Record<string, string> = { done: "#3b82f6", failed: "#dc2626", cancelled: "#9ca3af", leased: "#f59e0b", queued: "#d1d5db" };

function escape(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]!);
}

/** A chunk's bar in ms since the epoch: lease → done, or the worker's own time ending at done. */
function span(c: ChunkView): [number, number] | undefined {
  const end = c.doneAt ? Date.parse(c.doneAt) : undefined;
  if (end === undefined) return undefined;
  const start = c.leasedAt ? Date.parse(c.leasedAt) : c.processingMs !== null ? end - c.processingMs : undefined;
  return start === undefined || start > end ? undefined : [start, end];
}

export function chunkTimelineSvg(chunks: ChunkView[], title: string): string {
  const bars = chunks.flatMap((c) => {
    const s = span(c);
    return s && c.machineId ? [{ c, start: s[0], end: s[1], machine: c.machineId }] : [];
  });
  const machines = [...new Set(bars.map((b) => b.machine))];
  const t0 = Math.min(...bars.map((b) => b.start));
  const total = Math.max(1, Math.max(...bars.map((b) => b.end)) - t0);
  const x = (ms: number) => LEFT + ((ms - t0) / total) * (WIDTH - LEFT - 20);
  const height = 60 + machines.length * ROW + 30;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${escape(title)}</text>`,
    `<text x="10" y="42" fill="#555">${chunks.length} chunks on ${machines.length} machine${machines.length === 1 ? "" : "s"}, ${(total / 1000).toFixed(1)} s from the first lease to the last result</text>`,
  ];
  machines.forEach((m, i) => {
    const y = 60 + i * ROW;
    out.push(`<text x="10" y="${y + 17}">${escape(m)}</text>`);
    for (const b of bars.filter((bb) => bb.machine === m)) {
      const w = Math.max(2, x(b.end) - x(b.start));
      out.push(
        `<rect class="chunk" data-chunk="${b.c.index}" x="${x(b.start).toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="${ROW - 8}" fill="${COLORS[b.c.state] ?? "#6b7280"}" stroke="white"><title>chunk ${b.c.index} (${b.c.startSec.toFixed(1)}-${b.c.endSec.toFixed(1)} s of audio), attempt ${b.c.attempt}, ${((b.end - b.start) / 1000).toFixed(1)} s</title></rect>`,
        `<text x="${(x(b.start) + 3).toFixed(1)}" y="${y + 17}" fill="white">${b.c.index}</text>`,
      );
    }
  });
  const axisY = 60 + machines.length * ROW + 15;
  for (let i = 0; i <= 4; i++) {
    const ms = t0 + (total * i) / 4;
    out.push(`<text x="${x(ms).toFixed(1)}" y="${axisY}" text-anchor="middle" fill="#555">${((ms - t0) / 1000).toFixed(1)} s</text>`);
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}
