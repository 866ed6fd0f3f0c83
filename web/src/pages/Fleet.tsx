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
// The live pushes kept under the history: an hour of them at most.
const LIVE_S = HOUR_S;
// What the charts span, from the fleet's recorded minutes averaged per bucket.
const RANGES = [
  { key: "1h", seconds: HOUR_S, bucket: "MINUTE", bucketS: 60 },
  { key: "24h", seconds: 24 * HOUR_S, bucket: "FIFTEEN_MINUTES", bucketS: 900 },
  { key: "7d", seconds: 7 * 24 * HOUR_S, bucket: "HOUR", bucketS: HOUR_S },
] as const;
type Range = (typeof RANGES)[number];
// Three buckets without a point: nothing was recorded then (the live pushes come every
// few seconds), so the charts break their lines there.
const GAP_BUCKETS = 3;

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

const FLEET_HISTORY = `query($from: DateTime!, $to: DateTime!, $bucket: Bucket!) {
  fleetHistory(from: $from, to: $to, bucket: $bucket) { start totalPowerKw avgSoc avgFreq } }`;

type FleetPoint = { start: string; totalPowerKw: number; avgSoc: number | null; avgFreq: number | null };

/** The range as the platform recorded the fleet, per bucket (any fleet size). */
async function recorded(query: <T>(q: string, v: Record<string, unknown>) => Promise<T>, range: Range): Promise<number[][]> {
  const to = new Date();
  const from = new Date(to.getTime() - range.seconds * 1000);
  const data = await query<{ fleetHistory: FleetPoint[] }>(FLEET_HISTORY, { from: from.toISOString(), to: to.toISOString(), bucket: range.bucket });
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
      setRows((r) => pushWindow(r, [t, aggregate.totalPowerKw, aggregate.avgSoc ?? NaN, aggregate.avgFreq ?? NaN], LIVE_S));
    },
    [],
    setError,
  );

  // The range from the store, under the live points (re-read every bucket for the longer
  // ranges, whose buckets the live points do not fill).
  const [range, setRange] = useState<Range>(RANGES[0]);
  const [seed, setSeed] = useState<number[][]>([]);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let alive = true;
    recorded((q, v) => api.query(q, v), range)
      .then((r) => {
        if (!alive) return;
        setSeed(r);
        setError((e) => (e?.startsWith("history:") ? null : e)); // a failed read before this one
      })
      .catch((e: unknown) => alive && setError(`history: ${e instanceof Error ? e.message : String(e)}`));
    return () => {
      alive = false;
    };
  }, [range, tick]);
  useEffect(() => {
    if (range.bucketS <= 60) return undefined;
    const id = setInterval(() => setTick((t) => t + 1), range.bucketS * 1000);
    return () => clearInterval(id);
  }, [range]);

  const data = useMemo(() => {
    // Live points after the start of the last recorded bucket, which they continue.
    const last = seed.length ? seed[seed.length - 1][0] : -Infinity;
    const firstLive = rows[0]?.[0] ?? Infinity;
    const history = range.bucketS <= 60 ? seed.filter((r) => r[0] < firstLive - 30) : seed;
    const live = range.bucketS <= 60 ? rows : rows.filter((r) => r[0] > last);
    return columns(withGaps([...history, ...live], GAP_BUCKETS * range.bucketS), 4);
  }, [rows, seed, range]);

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
      <div class="toolbar">
        {RANGES.map((r) => (
          <button key={r.key} class={r.key === range.key ? "seg active" : "seg"} onClick={() => setRange(r)} data-testid={`fleet-range-${r.key}`}>
            {r.key}
          </button>
        ))}
        <span class="muted small">the fleet as recorded each minute{range.bucketS > 60 ? `, averaged per ${range.bucketS >= HOUR_S ? "hour" : `${range.bucketS / 60} min`}` : ""}, then live</span>
      </div>
      <div class="charts">
        <Chart title={`Total power, last ${range.key} (kW)`} series={[{ label: "power", color: "#4ea1ff", unit: "kW", fill: "rgba(78,161,255,0.12)" }]} data={[data[0], data[1]]} testId="chart-power" window={range.seconds} spanGaps={false} />
        <Chart title="Average SOC (%)" series={[{ label: "SOC", color: "#46c98b", unit: "%" }]} data={[data[0], data[2]]} window={range.seconds} spanGaps={false} />
        <Chart title="Grid frequency (Hz)" series={[{ label: "freq", color: "#f5b342", unit: "Hz" }]} data={[data[0], data[3]]} window={range.seconds} spanGaps={false} />
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
