import { useMemo, useState } from "preact/hooks";
import { ALERT_FIELDS, type Alert } from "../lib/alerts";
import { Chart } from "../lib/Chart";
import { useLoad, useQuery, useServices, useSubscription } from "../lib/context";
import { ago, columns, label, num, power, time, withGaps } from "../lib/format";
import { allNodes, type NodeRow } from "./Fleet";
import { ForecastChart, type Forecast, useLiveForecasts } from "./Forecasts";
import { AlertList, ErrorNote, Loading, Online, StatusPill, TableHead } from "./shared";

export function NodesPage() {
  const { api, navigate } = useServices();
  const nodes = useLoad(() => allNodes((q, v) => api.query(q, v)), [], 10_000);
  const [search, setSearch] = useState("");
  const [onlyOffline, setOnlyOffline] = useState(false);
  const shown = useMemo(() => {
    const words = search.toLowerCase().split(/\s+/).filter(Boolean);
    return (nodes.data ?? []).filter((n) => {
      if (onlyOffline && n.live?.online) return false;
      const text = `${n.dcId} ${n.hostname} ${n.kind === "HOME_DER" ? "home" : "edge"} ${n.live?.online ? "online" : "offline"}`.toLowerCase();
      return words.every((w) => text.includes(w));
    });
  }, [nodes.data, search, onlyOffline]);
  const online = (nodes.data ?? []).filter((n) => n.live?.online).length;
  return (
    <section>
      <h1>Nodes</h1>
      <div class="toolbar">
        <input type="search" placeholder="Search id, host, kind, online…" value={search} onInput={(e) => setSearch(e.currentTarget.value)} aria-label="Search nodes" data-testid="node-search" />
        <label class="check">
          <input type="checkbox" checked={onlyOffline} onChange={(e) => setOnlyOffline(e.currentTarget.checked)} /> offline only
        </label>
        <span class="muted">
          {online} of {nodes.data?.length ?? "…"} online · {shown.length} shown
        </span>
      </div>
      <ErrorNote error={nodes.error} />
      {nodes.data === null ? (
        <Loading what="nodes" />
      ) : (
        <div class="table-wrap">
          <table class="table" data-testid="nodes-table">
            <TableHead cols={["Node", "Kind", "State", "SOC", "Grid power", "Battery rating", "Last seen"]} numeric={["SOC", "Grid power", "Battery rating"]} />
            <tbody>
              {shown.map((n: NodeRow) => (
                <tr key={n.dcId} class="clickable" onClick={() => navigate(`/nodes/${encodeURIComponent(n.dcId)}`)}>
                  <td>
                    <a href={`/nodes/${encodeURIComponent(n.dcId)}`} onClick={(e) => e.preventDefault()}>
                      {n.dcId}
                    </a>
                    <div class="muted small">{n.hostname}</div>
                  </td>
                  <td>{n.kind === "HOME_DER" ? "Home DER" : "Edge DC"}</td>
                  <td>
                    <Online online={n.live?.online} />
                  </td>
                  <td class="num">{num(n.live?.reading?.soc, 0, "%")}</td>
                  <td class="num">{power(n.live?.reading?.powerKw)}</td>
                  <td class="num">{power(n.capacityKw)}</td>
                  <td>{ago(n.live?.lastSeen)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

const RANGES = [
  { key: "1h", hours: 1, bucket: "MINUTE", bucketS: 60, first: 60 },
  { key: "6h", hours: 6, bucket: "FIVE_MINUTES", bucketS: 300, first: 72 },
  { key: "24h", hours: 24, bucket: "FIFTEEN_MINUTES", bucketS: 900, first: 96 },
  { key: "7d", hours: 168, bucket: "HOUR", bucketS: 3600, first: 168 },
] as const;
// Buckets further apart than this many bucket lengths: the node did not report between
// them, and the chart shows the hole.
const GAP_BUCKETS = 3;

interface Bucket {
  start: string;
  count: number;
  powerKw: { avg: number; min: number; max: number };
  soc: { avg: number; min: number; max: number };
}

interface Command {
  commandId: string;
  dispatchId: string;
  action: string;
  params: { kw: number; durationS: number };
  issuedBy: string;
  timestamp: string;
  status: string;
  attempts: number;
  appliedKw: number | null;
  measuredKw: number | null;
  reason: string | null;
}

// The node's newest stored alerts: when it went offline and came back.
const NODE_ALERTS = 10;

const NODE = `query($id: ID!, $from: DateTime!, $to: DateTime!, $bucket: Bucket!, $first: Int!) {
  node(dcId: $id) { dcId kind hostname capacityKw batteryKwh location { lat lon } createdAt
    live { online lastSeen status reading { soc powerKw freq loadKw pvKw batteryKw timestamp } } }
  telemetryRange(dcId: $id, from: $from, to: $to, bucket: $bucket, first: $first) {
    buckets { start count powerKw { avg min max } soc { avg min max } } }
  dispatchLog(dcId: $id, last: 20) { commandId dispatchId action params { kw durationS } issuedBy timestamp status attempts appliedKw measuredKw reason }
  alertHistory(first: ${NODE_ALERTS}, dcId: $id) { edges { node { ${ALERT_FIELDS} } } }
}`;

const LIVE = `subscription($id: ID!) { telemetry(dcId: $id) { timestamp soc powerKw freq } }`;

export function NodePage({ dcId }: { dcId: string }) {
  const { api, navigate } = useServices();
  const [range, setRange] = useState<(typeof RANGES)[number]>(RANGES[0]);
  const [live, setLive] = useState<number[][]>([]);
  const answer = useQuery<{
    node: (NodeRow & { createdAt: string; live: NodeRow["live"] & { reading: { loadKw: number | null; pvKw: number | null; batteryKw: number | null; timestamp: string } | null } }) | null;
    telemetryRange: { buckets: Bucket[] };
    dispatchLog: Command[];
    alertHistory: { edges: { node: Alert }[] };
  }>(NODE, rangeVars(dcId, range), [dcId, range.key], 30_000);
  const forecasts = useLiveForecasts(dcId);
  void api;

  useSubscription<{ telemetry: { timestamp: string; soc: number; powerKw: number }[] }>(
    LIVE,
    { id: dcId },
    ({ telemetry }) => setLive((rows) => [...rows, ...telemetry.map((r) => [Date.parse(r.timestamp) / 1000, r.powerKw, r.soc])].slice(-720)),
    [dcId],
  );

  const data = useMemo(() => {
    const rows = (answer.data?.telemetryRange.buckets ?? []).map((b) => [
      Date.parse(b.start) / 1000, b.powerKw.avg, b.powerKw.min, b.powerKw.max, b.soc.avg, b.soc.min, b.soc.max,
    ]);
    const last = rows.length ? rows[rows.length - 1][0] : 0;
    // live readings past the last bucket, drawn as their own points
    for (const r of live) if (r[0] > last + 60) rows.push([r[0], r[1], r[1], r[1], r[2], r[2], r[2]]);
    return columns(withGaps(rows, GAP_BUCKETS * range.bucketS), 7);
  }, [answer.data, live, range]);

  const node = answer.data?.node;
  // The node's own fields answer null for an unknown node, its telemetry and commands
  // NOT_FOUND (which voids the whole answer).
  if ((answer.data && !node) || answer.errorCode === "NOT_FOUND") {
    return (
      <section>
        <h1>{dcId}</h1>
        <p class="error" role="alert">No node {dcId} is registered.</p>
        <button onClick={() => navigate("/nodes")}>All nodes</button>
      </section>
    );
  }
  const reading = node?.live?.reading;
  return (
    <section>
      <p class="crumbs">
        <a href="/nodes" onClick={(e) => (e.preventDefault(), navigate("/nodes"))}>Nodes</a> / {dcId}
      </p>
      <h1>
        {dcId} {node ? <Online online={node.live?.online} /> : null}
      </h1>
      <ErrorNote error={answer.error} />
      {node ? (
        <div class="facts">
          <span>{node.kind === "HOME_DER" ? "Home DER" : "Edge DC"} · {node.hostname}</span>
          <span>battery {power(node.capacityKw)}, {num(node.batteryKwh, 0, "kWh")}</span>
          <span>at {num(node.location.lat, 3)}, {num(node.location.lon, 3)}</span>
          <span>last seen {ago(node.live?.lastSeen)}</span>
          {reading ? (
            <span>
              now: grid {power(reading.powerKw)} · SOC {num(reading.soc, 1, "%")} · load {power(reading.loadKw)} · PV {power(reading.pvKw)} · battery{" "}
              {batteryFlow(reading.batteryKw)}
            </span>
          ) : null}
        </div>
      ) : (
        <Loading what="the node" />
      )}
      <div class="toolbar">
        {RANGES.map((r) => (
          <button key={r.key} class={r.key === range.key ? "seg active" : "seg"} onClick={() => setRange(r)}>
            {r.key}
          </button>
        ))}
        <span class="muted small">{label(range.bucket)} buckets: mean, with min–max band</span>
      </div>
      <div class="charts">
        <Chart
          title="Power (kW)"
          testId="node-power-chart"
          series={[
            { label: "mean", color: "#4ea1ff", unit: "kW" },
            { label: "min", color: "rgba(78,161,255,0.4)", unit: "kW", bandTo: 2, fill: "rgba(78,161,255,0.15)" },
            { label: "max", color: "rgba(78,161,255,0.4)", unit: "kW" },
          ]}
          data={[data[0], data[1], data[2], data[3]]}
          spanGaps={false}
        />
        <Chart
          title="State of charge (%)"
          series={[
            { label: "mean", color: "#46c98b", unit: "%" },
            { label: "min", color: "rgba(70,201,139,0.4)", unit: "%", bandTo: 2, fill: "rgba(70,201,139,0.15)" },
            { label: "max", color: "rgba(70,201,139,0.4)", unit: "%" },
          ]}
          data={[data[0], data[4], data[5], data[6]]}
          spanGaps={false}
        />
      </div>
      <ErrorNote error={forecasts.error ? `Forecasts not available: ${forecasts.error}` : null} />
      <NodeForecasts forecasts={forecasts.data} />
      <h2>Commands</h2>
      <CommandTable commands={answer.data?.dispatchLog ?? []} />
      <h2>Alerts</h2>
      {answer.data && answer.data.alertHistory.edges.length === 0 ? (
        <p class="muted">No alerts for this node.</p>
      ) : (
        <AlertList alerts={answer.data?.alertHistory.edges.map((e) => e.node) ?? []} testId="node-alerts" />
      )}
    </section>
  );
}

function rangeVars(dcId: string, range: (typeof RANGES)[number]): Record<string, unknown> {
  const to = new Date(Date.now() + 60_000);
  const from = new Date(to.getTime() - range.hours * 3600_000);
  return { id: dcId, from: from.toISOString(), to: to.toISOString(), bucket: range.bucket, first: range.first + 2 };
}

function CommandTable({ commands }: { commands: Command[] }) {
  const { navigate } = useServices();
  if (commands.length === 0) return <p class="muted">No commands sent to this node yet.</p>;
  return (
    <div class="table-wrap">
      <table class="table" data-testid="node-commands">
        <TableHead cols={["When", "Action", "kW", "Status", "Applied", "Measured", "By"]} numeric={["kW", "Applied", "Measured"]} />
        <tbody>
          {commands.map((c) => (
            <tr key={c.commandId} class="clickable" onClick={() => navigate(`/dispatch/${encodeURIComponent(c.dispatchId)}`)}>
              <td>{time(c.timestamp)}</td>
              <td>{label(c.action)}</td>
              <td class="num">{num(c.params.kw, 1)}</td>
              <td>
                <StatusPill status={c.status} /> {c.reason ? <span class="muted small">{c.reason}</span> : null}
              </td>
              <td class="num">{power(c.appliedKw)}</td>
              <td class="num">{power(c.measuredKw)}</td>
              <td>{c.issuedBy}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A node's newest load and PV forecasts. */
function NodeForecasts({ forecasts }: { forecasts: Forecast[] | null }) {
  if (forecasts === null) return null;
  return (
    <>
      <h2>Forecast</h2>
      {forecasts.length === 0 ? (
        <p class="note">No forecast for this node yet: the forecast cycle forecasts a node once it has a day of recent history.</p>
      ) : (
        <div class="charts">
          {forecasts.map((fc) => (
            <ForecastChart key={fc.target} forecast={fc} />
          ))}
        </div>
      )}
    </>
  );
}

/** The battery's flow in words: the telemetry's battery kW is positive while it charges. */
function batteryFlow(kw: number | null): string {
  if (kw === null || !Number.isFinite(kw)) return "–";
  if (num(kw, 1) === "0.0") return "idle";
  return `${kw > 0 ? "charging" : "discharging"} ${power(Math.abs(kw))}`;
}
