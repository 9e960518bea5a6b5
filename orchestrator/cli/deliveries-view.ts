/** Completion-callback deliveries of one episode, for `podfleet jobs show`. */
import type { DeliveryView } from "../delivery/delivery-service.ts";
import type { ApiClient } from "./api-client.ts";
import { safeInline } from "./terminal-text.ts";

export async function fetchDeliveries(api: ApiClient, episodeId: string): Promise<DeliveryView[]> {
  const { deliveries } = await api.get<{ deliveries: DeliveryView[] }>(`/v1/episodes/${encodeURIComponent(episodeId)}/deliveries`);
  return deliveries;
}

/** Human lines: one per delivery, then one per attempt. Empty when there are none. */
export function formatDeliveries(deliveries: DeliveryView[]): string {
  const lines: string[] = [];
  for (const d of deliveries) {
    const when = d.state === "delivered" ? `at ${d.deliveredAt}` : d.state === "pending" ? `next try ${d.nextAttemptAt ?? "-"}` : "given up";
    lines.push(`callback   ${d.event} → ${safeInline(d.url)}: ${d.state} ${when}`);
    for (const a of d.attempts) {
      lines.push(`  #${a.attempt} ${a.at} ${a.httpStatus ?? "-"} ${a.durationMs} ms${a.error ? ` ${safeInline(a.error)}` : ""}`);
    }
  }
  return lines.length ? lines.join("\n") + "\n" : "";
}
