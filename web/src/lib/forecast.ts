import { ago, plural } from "./format";

/** What the API says of a forecast's age: when it was made and when a newer one was due. */
export interface Dated {
  issuedAt: string;
  staleAfter: string;
}

/** Why a forecast should not be trusted as current, or null while a newer one is not yet due.
 * The cycles stop forecasting a node that has had no history for a while; its last forecast
 * stays on show, so the page must say it is old. */
export function staleness(forecast: Dated, now = Date.now()): string | null {
  const due = Date.parse(forecast.staleAfter);
  if (!Number.isFinite(due) || now <= due) return null;
  return `stale: made ${ago(forecast.issuedAt, now)}, and no cycle has forecast this series since (no recent history, or the cycles are not running)`;
}

/** What a fleet forecast says of the nodes it sums (`nodes`, null for a node's forecast). */
export interface Summed {
  nodes: number | null;
}

/** The fleet forecast's nodes against the registered ones, or null for a node's forecast.
 * The cycle sums only the nodes with a day or more of recent history, so a fleet with new
 * nodes is forecast short of them: the page must not let it pass for the whole fleet. */
export function coverage(forecast: Summed, registered: number | null): { title: string; warning: string | null } | null {
  const summed = forecast.nodes;
  if (summed === null) return null;
  if (registered === null || summed >= registered) return { title: `sum of ${plural(summed, "node")}`, warning: null };
  return {
    title: `sum of ${summed} of ${plural(registered, "node")}`,
    warning: `leaves out ${plural(registered - summed, "node")} with less than a day of recent history`,
  };
}
