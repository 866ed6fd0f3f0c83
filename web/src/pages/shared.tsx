import type { ComponentChildren } from "preact";
import { isCritical, type Alert } from "../lib/alerts";
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

/** Alerts newest first, each linking to its node's page (the grid's to none). */
export function AlertList({ alerts, testId }: { alerts: Alert[]; testId: string }) {
  const { navigate } = useServices();
  return (
    <ul class="alerts" data-testid={testId}>
      {alerts.map((a) => (
        <li key={a.id} class={isCritical(a) ? "alert critical" : "alert"}>
          <span class="alert-kind">{label(a.kind)}</span>
          <span class="alert-msg">
            {a.dcId ? (
              <a href={`/nodes/${encodeURIComponent(a.dcId)}`} onClick={(e) => (e.preventDefault(), navigate(`/nodes/${encodeURIComponent(a.dcId!)}`))}>
                {a.dcId}
              </a>
            ) : (
              "grid"
            )}
            : {a.message} {a.freq !== null ? `(${num(a.freq, 3, "Hz")})` : ""}
          </span>
          <time class="muted small">{time(a.at)}</time>
        </li>
      ))}
    </ul>
  );
}
