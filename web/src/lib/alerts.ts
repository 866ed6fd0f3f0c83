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

export function isCritical(alert: Alert): boolean {
  return alert.kind === "FREQUENCY_OUT_OF_BAND" ? alert.freqStatus === "CRITICAL" : alert.kind === "NODE_OFFLINE";
}

export class AlertFeed {
  items: Alert[] = [];
  unseen = 0;
  private listeners = new Set<() => void>();
  private stop: (() => void) | null = null;

  start(api: Api): void {
    this.stop ??= api.subscribe<{ alerts: Alert }>(ALERTS, {}, ({ alerts }) => this.add(alerts));
  }

  add(alert: Alert): void {
    this.items = [alert, ...this.items].slice(0, KEEP);
    this.unseen += 1;
    this.listeners.forEach((l) => l());
    if (isCritical(alert)) void notify(alert);
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

async function notify(alert: Alert): Promise<void> {
  if (!notificationsSupported() || Notification.permission !== "granted") return;
  const title = alert.kind === "NODE_OFFLINE" ? `Node offline: ${alert.dcId}` : "Grid frequency critical";
  const options: NotificationOptions = { body: alert.message, tag: `${alert.kind}-${alert.dcId ?? "grid"}`, icon: "/icon.svg" };
  const registration = await navigator.serviceWorker?.getRegistration();
  if (registration) await registration.showNotification(title, options);
  else new Notification(title, options);
}
