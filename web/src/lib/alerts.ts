// The alerts feed of the whole app: one subscription, kept in memory for the Alerts page
// and the badge, and a browser notification for critical ones when the user allows it.

import type { Api } from "./gql";

export interface Alert {
  id: string; // what happened, to what, when: the same live and stored
  kind: "NODE_OFFLINE" | "NODE_ONLINE" | "FREQUENCY_OUT_OF_BAND" | "FREQUENCY_RESTORED";
  at: string;
  message: string;
  dcId: string | null;
  freq: number | null;
  freqStatus: string | null;
}

export const ALERT_FIELDS = "id kind at message dcId freq freqStatus";
const ALERTS = `subscription { alerts { ${ALERT_FIELDS} } }`;
const KEEP = 300;

/** The alerts of both lists once each (an alert seen live is stored too), newest first. */
export function mergeAlerts(live: Alert[], stored: Alert[], keep = KEEP): Alert[] {
  const byId = new Map<string, Alert>();
  for (const a of [...stored, ...live]) byId.set(a.id, a);
  return [...byId.values()].sort((a, b) => Date.parse(b.at) - Date.parse(a.at) || b.id.localeCompare(a.id)).slice(0, keep);
}

/** One row of an alert list: an alert, or a burst of node alerts of one kind, newest first. */
export type AlertRow = { alert: Alert } | { burst: Alert[] };

/** Node alerts of one kind that came together, each within `gapMs` of the next, `min` or
 * more of them, as one row: a restart of the platform or a broker outage takes every node
 * offline at once, and a thousand rows of it would bury the one alert that matters. Grid
 * alerts stay one per row. `alerts` newest first, as `mergeAlerts` gives them. */
export function groupBursts(alerts: Alert[], gapMs = 5_000, min = 3): AlertRow[] {
  const rows: AlertRow[] = [];
  let run: Alert[] = [];
  const flush = () => {
    if (run.length >= min) rows.push({ burst: run });
    else rows.push(...run.map((alert) => ({ alert })));
    run = [];
  };
  for (const a of alerts) {
    const last = run[run.length - 1];
    const joins = last !== undefined && a.dcId !== null && a.kind === last.kind && Date.parse(last.at) - Date.parse(a.at) <= gapMs;
    if (!joins) flush();
    if (a.dcId === null) rows.push({ alert: a });
    else run.push(a);
  }
  flush();
  return rows;
}

// Past this many nodes offline within a minute, one notification counts them instead of
// one per node.
const MANY_OFFLINE = 3;
const OFFLINE_WINDOW_MS = 60_000;

export interface Notice {
  title: string;
  body: string;
  tag: string; // a newer notice with the same tag replaces the shown one
}

/** What to tell the user of a critical alert, given the node-offline alerts of the last
 * minute (`offlineRecently`, this one included). */
export function notice(alert: Alert, offlineRecently: number): Notice {
  if (alert.kind !== "NODE_OFFLINE") return { title: "Grid frequency critical", body: alert.message, tag: `${alert.kind}-grid` };
  if (offlineRecently > MANY_OFFLINE) {
    return { title: `${offlineRecently} nodes offline`, body: `within a minute; the newest: ${alert.message}`, tag: "NODE_OFFLINE-many" };
  }
  return { title: `Node offline: ${alert.dcId}`, body: alert.message, tag: `${alert.kind}-${alert.dcId ?? "grid"}` };
}

export function isCritical(alert: Alert): boolean {
  return alert.kind === "FREQUENCY_OUT_OF_BAND" ? alert.freqStatus === "CRITICAL" : alert.kind === "NODE_OFFLINE";
}

export class AlertFeed {
  items: Alert[] = [];
  unseen = 0;
  private listeners = new Set<() => void>();
  private stop: (() => void) | null = null;
  private offline: number[] = []; // when the node-offline alerts of the last minute happened

  start(api: Api): void {
    this.stop ??= api.subscribe<{ alerts: Alert }>(ALERTS, {}, ({ alerts }) => this.add(alerts));
  }

  add(alert: Alert): void {
    this.items = [alert, ...this.items].slice(0, KEEP);
    this.unseen += 1;
    this.listeners.forEach((l) => l());
    if (isCritical(alert)) void notify(this.notice(alert));
  }

  /** The notice of a critical alert, counting it among the last minute's node-offline ones. */
  notice(alert: Alert): Notice {
    if (alert.kind === "NODE_OFFLINE") {
      const at = Date.parse(alert.at);
      this.offline = [...this.offline.filter((t) => Math.abs(at - t) < OFFLINE_WINDOW_MS), at];
    }
    return notice(alert, this.offline.length);
  }

  seen(): void {
    this.unseen = 0;
    this.listeners.forEach((l) => l());
  }

  listen(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export const notificationsSupported = (): boolean => typeof Notification !== "undefined";

async function notify({ title, body, tag }: Notice): Promise<void> {
  if (!notificationsSupported() || Notification.permission !== "granted") return;
  const options: NotificationOptions = { body, tag, icon: "/icon.svg" };
  const registration = await navigator.serviceWorker?.getRegistration();
  if (registration) await registration.showNotification(title, options);
  else new Notification(title, options);
}
