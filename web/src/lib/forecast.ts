import { ago } from "./format";

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
