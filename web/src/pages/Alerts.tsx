import { useEffect, useState } from "preact/hooks";
import { ALERT_FIELDS, mergeAlerts, notificationsSupported, type Alert, type AlertFeed } from "../lib/alerts";
import { useQuery, useServices } from "../lib/context";
import { label, shortfall, time, type Outcome } from "../lib/format";
import { AlertList, ErrorNote, StatusPill } from "./shared";

const KINDS = ["ALL", "NODE_OFFLINE", "NODE_ONLINE", "FREQUENCY_OUT_OF_BAND", "FREQUENCY_RESTORED"] as const;

// The newest stored alerts, under the live ones.
const STORED = 100;
const HISTORY = `query($first: Int!, $kind: AlertKind) { alertHistory(first: $first, kind: $kind) { edges { node { ${ALERT_FIELDS} } } } }`;

const FAILED_FIELDS = "dispatchId action createdAt status reason issuedBy counts { completed rejected expired cancelled total }";
const FAILED = `query { failed: dispatches(first: 10, status: FAILED) { edges { node { ${FAILED_FIELDS} } } }
  partial: dispatches(first: 10, status: PARTIAL) { edges { node { ${FAILED_FIELDS} } } } }`;

interface FailedDispatch {
  dispatchId: string;
  action: string;
  createdAt: string;
  status: string;
  reason: string | null;
  issuedBy: string;
  counts: Outcome;
}

export function AlertsPage({ feed }: { feed: AlertFeed }) {
  const { navigate } = useServices();
  const [items, setItems] = useState(feed.items);
  const [kind, setKind] = useState<(typeof KINDS)[number]>("ALL");
  const failed = useQuery<{ failed: { edges: { node: FailedDispatch }[] }; partial: { edges: { node: FailedDispatch }[] } }>(FAILED, {}, [], 15_000);
  useEffect(() => feed.listen(() => setItems(feed.items)), [feed]);
  const history = useQuery<{ alertHistory: { edges: { node: Alert }[] } }>(HISTORY, { first: STORED, kind: kind === "ALL" ? null : kind }, [kind], 30_000);
  const live = kind === "ALL" ? items : items.filter((a) => a.kind === kind);
  const shown = mergeAlerts(live, history.data?.alertHistory.edges.map((e) => e.node) ?? []);
  const dispatches = [...(failed.data?.failed.edges ?? []), ...(failed.data?.partial.edges ?? [])]
    .map((e) => e.node)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return (
    <section>
      <h1>Alerts</h1>
      <p class="muted">
        Nodes going offline and back, grid frequency out of its band and restored: the newest {STORED} stored, as they happened, and live.
        {notificationsSupported() && Notification.permission !== "granted" ? " Allow notifications (Notify me, at the top) to be told of critical ones." : ""}
      </p>
      <div class="toolbar">
        {KINDS.map((k) => (
          <button key={k} class={k === kind ? "seg active" : "seg"} onClick={() => setKind(k)}>
            {k === "ALL" ? "All" : label(k)}
          </button>
        ))}
      </div>
      <ErrorNote error={history.error ? `Stored alerts not available: ${history.error}` : null} />
      {shown.length === 0 ? (
        <p class="muted" data-testid="no-alerts">No alerts yet.</p>
      ) : (
        <AlertList alerts={shown} testId="alerts" bursts cut={shown.length >= STORED} />
      )}
      <h2>Failed dispatches</h2>
      <ErrorNote error={failed.error} />
      {dispatches.length === 0 ? (
        <p class="muted">No failed or partial dispatch.</p>
      ) : (
        <ul class="alerts">
          {dispatches.map((d) => (
            <li key={d.dispatchId} class="alert clickable" onClick={() => navigate(`/dispatch/${encodeURIComponent(d.dispatchId)}`)}>
              <StatusPill status={d.status} />
              <span class="alert-msg">
                {label(d.action)} by {d.issuedBy}: {shortfall(d.counts)}
                {d.reason ? ` (${d.reason})` : ""}
              </span>
              <time class="muted small">{time(d.createdAt)}</time>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
