import { useEffect, useMemo, useState } from "preact/hooks";
import { Chart } from "../lib/Chart";
import { useLoad, useServices, useSubscription } from "../lib/context";
import { columns, num, power, pushWindow, withGaps, type FreqStatus } from "../lib/format";
import { ErrorNote, FreqBadge, Kpi } from "./shared";

interface Aggregate {
  totalPowerKw: number;
  avgSoc: number | null;
  avgFreq: number | null;
  nodeCount: number;
  onlineNodes: number;
  freqStatus: FreqStatus;
  computedAt: string;
}

export interface NodeRow {
  dcId: string;
  kind: string;
  hostname: string;
  capacityKw: number;
  batteryKwh: number;
  location: { lat: number; lon: number };
  live: { online: boolean; lastSeen: string | null; reading: { soc: number; powerKw: number; freq: number } | null } | null;
}

const AGGREGATE = `subscription { aggregate { totalPowerKw avgSoc avgFreq nodeCount onlineNodes freqStatus computedAt } }`;
export const NODES = `query($after: String) { nodes(first: 100, after: $after) {
  edges { node { dcId kind hostname capacityKw batteryKwh location { lat lon }
    live { online lastSeen reading { soc powerKw freq } } } }
  pageInfo { hasNextPage endCursor } } }`;
const HOUR_S = 3600;
// Three of the history's minutes without a point: nothing was recorded then (the live
// pushes come every few seconds), so the charts break their lines there.
const GAP_S = 180;

/** Every registered node (pages of 100). */
export async function allNodes(query: <T>(q: string, v: Record<string, unknown>) => Promise<T>): Promise<NodeRow[]> {
  const rows: NodeRow[] = [];
  let after: string | null = null;
  for (;;) {
    const page: { nodes: { edges: { node: NodeRow }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } =
      await query(NODES, { after });
    rows.push(...page.nodes.edges.map((e) => e.node));
    if (!page.nodes.pageInfo.hasNextPage) return rows;
    after = page.nodes.pageInfo.endCursor;
  }
}

const FLEET_HISTORY = `query($from: DateTime!, $to: DateTime!) {
  fleetHistory(from: $from, to: $to, bucket: MINUTE) { start totalPowerKw avgSoc avgFreq } }`;

type FleetPoint = { start: string; totalPowerKw: number; avgSoc: number | null; avgFreq: number | null };

/** The last hour as the platform recorded the fleet, minute by minute (any fleet size). */
async function lastHour(query: <T>(q: string, v: Record<string, unknown>) => Promise<T>): Promise<number[][]> {
  const to = new Date();
  const from = new Date(to.getTime() - HOUR_S * 1000);
  const data = await query<{ fleetHistory: FleetPoint[] }>(FLEET_HISTORY, { from: from.toISOString(), to: to.toISOString() });
  return data.fleetHistory.map((p) => [Date.parse(p.start) / 1000, p.totalPowerKw, p.avgSoc ?? NaN, p.avgFreq ?? NaN]);
}

export function FleetPage() {
  const { api } = useServices();
  const [agg, setAgg] = useState<Aggregate | null>(null);
  const [rows, setRows] = useState<number[][]>([]); // [t, power, soc, freq]
  const [error, setError] = useState<string | null>(null);
  const nodes = useLoad(() => allNodes((q, v) => api.query(q, v)), [], 15_000);

  useSubscription<{ aggregate: Aggregate }>(
    AGGREGATE,
    {},
    ({ aggregate }) => {
      const w = window as unknown as { __vppFirstLive?: number; __vppStart?: number };
      w.__vppFirstLive ??= performance.now();
      setAgg(aggregate);
      const t = Date.parse(aggregate.computedAt) / 1000;
      setRows((r) => pushWindow(r, [t, aggregate.totalPowerKw, aggregate.avgSoc ?? NaN, aggregate.avgFreq ?? NaN], HOUR_S));
    },
    [],
    setError,
  );

  // The last hour from the store, under the live points.
  const [seed, setSeed] = useState<number[][]>([]);
  useEffect(() => {
    let alive = true;
    lastHour((q, v) => api.query(q, v))
      .then((r) => alive && setSeed(r))
      .catch((e: unknown) => alive && setError(`history: ${e instanceof Error ? e.message : String(e)}`));
    return () => {
      alive = false;
    };
  }, []);

  const data = useMemo(() => {
    const firstLive = rows[0]?.[0] ?? Infinity;
    const merged = [...seed.filter((r) => r[0] < firstLive - 30), ...rows];
    return columns(withGaps(merged, GAP_S), 4);
  }, [rows, seed]);

  const onlineShare = agg && agg.nodeCount ? agg.onlineNodes / agg.nodeCount : 1;
  return (
    <section>
      <h1>Fleet</h1>
      <ErrorNote error={error ?? nodes.error} />
      <div class="kpis">
        <Kpi title="Total power" value={agg ? power(agg.totalPowerKw) : "…"} sub="net import, online nodes" testId="kpi-power" />
        <Kpi title="Average SOC" value={agg ? num(agg.avgSoc, 1, "%") : "…"} sub="state of charge" testId="kpi-soc" />
        <Kpi
          title="Frequency"
          value={agg ? num(agg.avgFreq, 3, "Hz") : "…"}
          sub={<FreqBadge status={agg?.freqStatus} />}
          tone={agg ? `tone-${agg.freqStatus.toLowerCase()}` : ""}
          testId="kpi-freq"
        />
        <Kpi
          title="Online"
          value={agg ? `${agg.onlineNodes} / ${agg.nodeCount}` : "…"}
          sub={agg ? `updated ${new Date(agg.computedAt).toLocaleTimeString("en-GB")}` : "waiting for live data"}
          tone={onlineShare < 0.9 ? "tone-warning" : ""}
          testId="kpi-online"
        />
      </div>
      <div class="charts">
        <Chart title="Total power, last hour (kW)" series={[{ label: "power", color: "#4ea1ff", unit: "kW", fill: "rgba(78,161,255,0.12)" }]} data={[data[0], data[1]]} testId="chart-power" window={HOUR_S} spanGaps={false} />
        <Chart title="Average SOC (%)" series={[{ label: "SOC", color: "#46c98b", unit: "%" }]} data={[data[0], data[2]]} window={HOUR_S} spanGaps={false} />
        <Chart title="Grid frequency (Hz)" series={[{ label: "freq", color: "#f5b342", unit: "Hz" }]} data={[data[0], data[3]]} window={HOUR_S} spanGaps={false} />
      </div>
      <h2>Nodes by location</h2>
      <NodeMap nodes={nodes.data ?? []} />
    </section>
  );
}

/** Nodes placed by longitude and latitude (no map tiles: nothing is fetched from outside). */
export function NodeMap({ nodes }: { nodes: NodeRow[] }) {
  const { navigate } = useServices();
  if (nodes.length === 0) return <p class="muted">No registered nodes.</p>;
  const lats = nodes.map((n) => n.location.lat);
  const lons = nodes.map((n) => n.location.lon);
  const pad = 0.05;
  let [minLat, maxLat, minLon, maxLon] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  if (maxLat - minLat < 0.01) [minLat, maxLat] = [minLat - 0.5, maxLat + 0.5];
  if (maxLon - minLon < 0.01) [minLon, maxLon] = [minLon - 0.5, maxLon + 0.5];
  const W = 1000;
  const H = 500;
  const x = (lon: number) => (pad + ((1 - 2 * pad) * (lon - minLon)) / (maxLon - minLon)) * W;
  const y = (lat: number) => (pad + ((1 - 2 * pad) * (maxLat - lat)) / (maxLat - minLat)) * H;
  const maxCap = Math.max(...nodes.map((n) => n.capacityKw), 1);
  return (
    <svg class="map" viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Nodes by location" data-testid="node-map">
      <rect width={W} height={H} rx="8" class="map-bg" />
      {nodes.map((n) => (
        <circle
          key={n.dcId}
          cx={x(n.location.lon)}
          cy={y(n.location.lat)}
          r={5 + 10 * Math.sqrt(n.capacityKw / maxCap)}
          class={n.live?.online ? "dot online" : "dot offline"}
          onClick={() => navigate(`/nodes/${encodeURIComponent(n.dcId)}`)}
        >
          <title>
            {n.dcId} ({n.kind === "HOME_DER" ? "home" : "edge DC"}) {n.live?.online ? "online" : "offline"}
            {n.live?.reading ? ` · SOC ${n.live.reading.soc.toFixed(0)} % · ${n.live.reading.powerKw.toFixed(1)} kW` : ""}
          </title>
        </circle>
      ))}
    </svg>
  );
}
