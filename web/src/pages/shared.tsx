import type { ComponentChildren } from "preact";
import { groupBursts, isCritical, type Alert } from "../lib/alerts";
import { useServices } from "../lib/context";
import type { FreqStatus } from "../lib/format";
import { label, num, time } from "../lib/format";

export function Kpi({ title, value, sub, tone, testId }: { title: string; value: string; sub?: ComponentChildren; tone?: string; testId?: string }) {
  return (
    <div class={`kpi ${tone ?? ""}`} data-testid={testId}>
      <div class="kpi-title">{title}</div>
      <div class="kpi-value">{value}</div>
      {sub ? <div class="kpi-sub">{sub}</div> : null}
    </div>
  );
}

export function FreqBadge({ status }: { status: FreqStatus | string | null | undefined }) {
  const s = (status ?? "UNKNOWN") as string;
  return <span class={`pill freq-${s.toLowerCase()}`}>{label(s)}</span>;
}

export function StatusPill({ status }: { status: string }) {
  return <span class={`pill st-${status.toLowerCase()}`}>{label(status)}</span>;
}

export function Online({ online }: { online: boolean | null | undefined }) {
  return online ? <span class="pill st-online">Online</span> : <span class="pill st-offline">Offline</span>;
}

export function ErrorNote({ error }: { error: string | null }) {
  return error ? <p class="error" role="alert">{error}</p> : null;
}

export function Loading({ what }: { what: string }) {
  return <p class="muted">Loading {what}…</p>;
}

/** A table's head row; `numeric` columns are right-aligned. */
export function TableHead({ cols, numeric = [] }: { cols: string[]; numeric?: string[] }) {
  return (
    <thead>
      <tr>
        {cols.map((c, i) => (
          <th key={i} class={numeric.includes(c) ? "num" : undefined}>
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}

/** Alerts newest first, each linking to its node's page (the grid's to none); with
 * `bursts`, the node alerts of one kind that came together as one row that opens to them.
 * `cut`: older alerts than the last were left out, so a burst that reaches it may be larger. */
export function AlertList({ alerts, testId, bursts = false, cut = false }: { alerts: Alert[]; testId: string; bursts?: boolean; cut?: boolean }) {
  const rows = bursts ? groupBursts(alerts) : alerts.map((alert) => ({ alert }));
  const last = alerts[alerts.length - 1];
  return (
    <ul class="alerts" data-testid={testId}>
      {rows.map((row) =>
        "alert" in row ? (
          <AlertRow key={row.alert.id} alert={row.alert} />
        ) : (
          <BurstRow key={`burst-${row.burst[0].id}`} alerts={row.burst} atLeast={cut && row.burst.includes(last)} />
        ),
      )}
    </ul>
  );
}

function NodeLink({ dcId }: { dcId: string }) {
  const { navigate } = useServices();
  const path = `/nodes/${encodeURIComponent(dcId)}`;
  return (
    <a href={path} onClick={(e) => (e.preventDefault(), navigate(path))}>
      {dcId}
    </a>
  );
}

function AlertRow({ alert: a }: { alert: Alert }) {
  return (
    <li class={isCritical(a) ? "alert critical" : "alert"}>
      <span class="alert-kind">{label(a.kind)}</span>
      <span class="alert-msg">
        {a.dcId ? <NodeLink dcId={a.dcId} /> : "grid"}: {a.message} {a.freq !== null ? `(${num(a.freq, 3, "Hz")})` : ""}
      </span>
      <time class="muted small">{time(a.at)}</time>
    </li>
  );
}

// How a burst's summary says what its nodes did.
const BURST_VERBS: Partial<Record<Alert["kind"], string>> = { NODE_OFFLINE: "went offline", NODE_ONLINE: "came back online" };
const NAMED = 3;

/** Node alerts of one kind that came together (`groupBursts`), newest first. */
function BurstRow({ alerts, atLeast }: { alerts: Alert[]; atLeast: boolean }) {
  const newest = alerts[0];
  const oldest = alerts[alerts.length - 1];
  const seconds = Math.round((Date.parse(newest.at) - Date.parse(oldest.at)) / 1000);
  const ids = alerts.slice(0, NAMED).map((a) => a.dcId).join(", ");
  const more = alerts.length > NAMED ? ` and ${alerts.length - NAMED} more` : "";
  return (
    <li class={isCritical(newest) ? "alert critical" : "alert"} data-testid="alert-burst">
      <span class="alert-kind">{label(newest.kind)}</span>
      <details class="alert-msg">
        <summary>
          {atLeast ? "at least " : ""}
          {alerts.length} nodes {BURST_VERBS[newest.kind] ?? label(newest.kind).toLowerCase()} {seconds ? `within ${seconds} s` : "at once"}: {ids}
          {more}
        </summary>
        <ul class="burst">
          {alerts.map((a) => (
            <li key={a.id}>
              <NodeLink dcId={a.dcId!} />: {a.message} <time class="muted small">{time(a.at)}</time>
            </li>
          ))}
        </ul>
      </details>
      <time class="muted small">{time(newest.at)}</time>
    </li>
  );
}
