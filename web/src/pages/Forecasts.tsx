import { useMemo, useState } from "preact/hooks";
import { Chart } from "../lib/Chart";
import { useLoad, useNow, useQuery, useServices, useSubscription } from "../lib/context";
import { coverage, staleness } from "../lib/forecast";
import { columns, label, metricColumns, num, plural, power, time } from "../lib/format";
import { allNodes } from "./Fleet";
import { ErrorNote, Kpi, Loading } from "./shared";

export interface Forecast {
  seriesId: string;
  target: "LOAD" | "PV";
  cycleId: string;
  issuedAt: string;
  staleAfter: string;
  model: string;
  fallbackReason: string | null;
  /** the fleet's: how many nodes it sums; null for a node */
  nodes: number | null;
  points: { at: string; p10: number; p50: number; p90: number }[];
}

interface Model {
  name: string;
  version: number;
  kind: string;
  target: string | null;
  champion: boolean;
  trainedAt: string;
  metrics: { name: string; value: number }[];
}

// The registry's target names (`vpp.ml.forecast.settings.Target`) as the rest of the page says them.
const TARGETS: Record<string, string> = { load_kw: "Load", pv_kw: "PV" };

interface Flexibility {
  nodes: number;
  chargeKw: number;
  dischargeKw: number;
  chargeKwh: number;
  dischargeKwh: number;
  chargeHours: number | null;
  dischargeHours: number | null;
  computedAt: string;
  forecastNodes: number;
  hours: { at: string; upKw: number; downKw: number; netLoadKw: number | null }[];
}

interface ForecastMetrics {
  ranAt: string;
  testFrom: string;
  testUntil: string;
  buildings: number[];
  rows: { target: string; series: string; model: string; mae: number; mase: number | null; coverage80: number | null; fitSeconds: number; origins: number }[];
  best: { target: string; model: string; mase: number | null; meetsTarget: boolean }[];
}

interface Accuracy {
  target: "LOAD" | "PV";
  forecasts: number;
  /** the fleet's forecasts not scored: they summed another number of nodes than were measured */
  unmatched: number;
  fallbacks: number;
  points: number;
  mae: number | null;
  mase: number | null;
  coverage80: number | null;
  meetsTarget: boolean | null;
  models: string[];
}

const FORECAST_FIELDS = "seriesId target cycleId issuedAt staleAfter model fallbackReason nodes points { at p10 p50 p90 }";
const LIVE_FORECASTS = `subscription($id: ID!) { forecasts(seriesId: $id) { ${FORECAST_FIELDS} } }`;
const MODELS = `query { models(kind: "forecast", last: 20) { name version kind target champion trainedAt metrics { name value } } }`;
const FLEX = `query($kind: NodeKind) { flexibility(kind: $kind) { nodes chargeKw dischargeKw chargeKwh dischargeKwh chargeHours dischargeHours computedAt forecastNodes hours { at upKw downKw netLoadKw } } }`;
const ACCURACY_FIELDS = "target forecasts unmatched fallbacks points mae mase coverage80 meetsTarget models";
const ACCURACY = `query($id: ID!, $days: Int!) { load: forecastAccuracy(seriesId: $id, target: LOAD, days: $days) { ${ACCURACY_FIELDS} } pv: forecastAccuracy(seriesId: $id, target: PV, days: $days) { ${ACCURACY_FIELDS} } }`;
const BACKTEST = `query { forecastMetrics { ranAt testFrom testUntil buildings rows { target series model mae mase coverage80 fitSeconds origins } best { target model mase meetsTarget } } }`;

/** Hour by hour, what the fleet can give (up) or take (down) if called in that hour, from
 * the state its batteries will be in by then. */
function EnvelopeChart({ flex }: { flex: Flexibility }) {
  const data = useMemo(
    () => columns(flex.hours.map((h) => [Date.parse(h.at) / 1000, h.upKw, h.downKw, h.netLoadKw ?? NaN]), 4),
    [flex],
  );
  return (
    <Chart
      title={`Next 24 h (kW): up = discharge, down = charge; ${flex.forecastNodes} of ${flex.nodes} batteries with forecasts`}
      series={[
        { label: "up", color: "#3fb950", unit: "kW" },
        { label: "down", color: "#4ea1ff", unit: "kW" },
        { label: "fleet net load", color: "rgba(138,148,166,0.8)", unit: "kW", dash: [4, 4] },
      ]}
      data={data}
      testId="flexibility-envelope"
    />
  );
}

/** A quantile forecast: the median with its 80 % band; a fleet's says which nodes it sums
 * of the `registered` ones. */
export function ForecastChart({ forecast, registered = null }: { forecast: Forecast; registered?: number | null }) {
  const data = useMemo(
    () => columns(forecast.points.map((p) => [Date.parse(p.at) / 1000, p.p50, p.p10, p.p90]), 4),
    [forecast],
  );
  const color = forecast.target === "PV" ? "#f5b342" : "#4ea1ff";
  const now = useNow(60_000);
  const summed = coverage(forecast, registered);
  const warnings = [staleness(forecast, now), summed?.warning].filter((w): w is string => !!w);
  return (
    <Chart
      title={`${label(forecast.target)} forecast (kW)${summed ? `, ${summed.title}` : ""}: ${forecast.model}, issued ${time(forecast.issuedAt)}${forecast.fallbackReason ? ` — fallback: ${forecast.fallbackReason}` : ""}`}
      warning={warnings.length ? warnings.join("; ") : null}
      series={[
        { label: "p50", color, unit: "kW" },
        { label: "p10", color: "rgba(138,148,166,0.6)", unit: "kW", bandTo: 2, fill: "rgba(138,148,166,0.18)", dash: [4, 4] },
        { label: "p90", color: "rgba(138,148,166,0.6)", unit: "kW", dash: [4, 4] },
      ]}
      data={data}
      testId={`forecast-${forecast.target.toLowerCase()}`}
    />
  );
}

/** How the stored forecasts of a series did against what was then measured. */
function AccuracyTable({ rows, days }: { rows: Accuracy[]; days: number }) {
  const unmatched = rows.filter((r) => r.unmatched > 0);
  const note = unmatched.length ? (
    <p class="muted small" data-testid="accuracy-unmatched">
      Not scored: the fleet's {unmatched.map((r) => plural(r.unmatched, `${r.target === "PV" ? "PV" : "load"} forecast`)).join(" and ")} that summed another number of nodes than
      the fleet measured since (made before a node had a day of history).
    </p>
  ) : null;
  if (rows.every((r) => r.points === 0)) {
    return (
      <>
        <p class="muted">No forecast of the last {days === 1 ? "day" : `${days} days`} has a measured hour yet.</p>
        {note}
      </>
    );
  }
  return (
    <div class="table-wrap">
      <table class="table" data-testid="forecast-accuracy">
        <thead>
          <tr>
            <th>Target</th>
            <th class="num">Forecasts</th>
            <th class="num">Hours scored</th>
            <th class="num">MAE kW</th>
            <th class="num">MASE</th>
            <th class="num">80 % coverage</th>
            <th>Models</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.target}>
              <td>{label(r.target)}</td>
              <td class="num">
                {r.forecasts}
                {r.fallbacks ? ` (${r.fallbacks} fallback)` : ""}
              </td>
              <td class="num">{r.points}</td>
              <td class="num">{num(r.mae, 3)}</td>
              <td class="num">
                {num(r.mase, 3)} {r.meetsTarget === null ? null : <span class={`pill ${r.meetsTarget ? "st-completed" : "st-failed"}`}>{r.meetsTarget ? "meets 0.8" : "misses 0.8"}</span>}
              </td>
              <td class="num">{num(r.coverage80, 3)}</td>
              <td>{r.models.join(", ") || "–"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {note}
    </div>
  );
}

/** A series' newest forecasts: those stored, then each forecast cycle's as it is published. */
export function useLiveForecasts(series: string): { data: Forecast[] | null; error: string | null } {
  const [state, setState] = useState<{ series: string; data: Forecast[] | null; error: string | null }>({ series, data: null, error: null });
  useSubscription<{ forecasts: Forecast[] }>(
    LIVE_FORECASTS,
    { id: series },
    ({ forecasts }) => setState({ series, data: forecasts, error: null }),
    [series],
    (error) => setState((s) => ({ ...s, series, error })),
  );
  // Until the new series' first message, not the previous series' forecasts.
  return state.series === series ? state : { data: null, error: null };
}

export function ForecastsPage() {
  const { api } = useServices();
  const [series, setSeries] = useState("fleet");
  const nodes = useLoad(() => allNodes((q, v) => api.query(q, v)), []);
  const forecasts = useLiveForecasts(series);
  const [days, setDays] = useState(1);
  const accuracy = useQuery<{ load: Accuracy; pv: Accuracy }>(ACCURACY, { id: series, days }, [series, days], 300_000);
  const models = useQuery<{ models: Model[] }>(MODELS, {}, []);
  const [kind, setKind] = useState("");
  const flex = useQuery<{ flexibility: Flexibility }>(FLEX, { kind: kind || null }, [kind], 15_000);
  const backtest = useQuery<{ forecastMetrics: ForecastMetrics | null }>(BACKTEST, {}, []);
  const bt = backtest.data?.forecastMetrics;
  const metricCols = metricColumns((models.data?.models ?? []).flatMap((m) => m.metrics.map((x) => x.name)));
  const f = flex.data?.flexibility;
  return (
    <section>
      <h1>Forecasts</h1>
      <h2>Flexibility envelope</h2>
      <div class="toolbar">
        <label>
          Nodes{" "}
          <select value={kind} onChange={(e) => setKind(e.currentTarget.value)} data-testid="flexibility-kind">
            <option value="">All</option>
            <option value="HOME_DER">Homes</option>
            <option value="EDGE_DC">Data centres</option>
          </select>
        </label>
        <span class="muted small">
          rated kW before the guard's limits; the hours below apply them: homes self-consume until called, and give no more than their forecast net load (zero export)
        </span>
      </div>
      <ErrorNote error={flex.error ? `Flexibility not available: ${flex.error}` : null} />
      {f ? (
        <div class="kpis" data-testid="flexibility">
          <Kpi title="Rated charge now" value={power(f.chargeKw)} sub={`${num(f.chargeKwh, 0, "kWh")} of room · ${f.chargeHours === null ? "–" : num(f.chargeHours, 1, "h")}`} />
          <Kpi title="Rated discharge now" value={power(f.dischargeKw)} sub={`${num(f.dischargeKwh, 0, "kWh")} stored · ${f.dischargeHours === null ? "–" : num(f.dischargeHours, 1, "h")}`} />
          <Kpi title="Online batteries" value={String(f.nodes)} sub={`as of ${time(f.computedAt)}`} />
        </div>
      ) : flex.error ? null : (
        <Loading what="the flexibility" />
      )}
      {f ? <EnvelopeChart flex={f} /> : null}
      <h2>Forecast</h2>
      <div class="toolbar">
        <label>
          Series{" "}
          <select value={series} onChange={(e) => setSeries(e.currentTarget.value)} data-testid="forecast-series">
            <option value="fleet">Whole fleet</option>
            {(nodes.data ?? []).map((n) => (
              <option key={n.dcId} value={n.dcId}>
                {n.dcId}
              </option>
            ))}
          </select>
        </label>
        <span class="muted small">median with the 10–90 % band</span>
      </div>
      <ErrorNote error={forecasts.error ? `Forecasts not available: ${forecasts.error}` : null} />
      {forecasts.data === null && !forecasts.error ? (
        <Loading what="forecasts" />
      ) : forecasts.data && forecasts.data.length === 0 ? (
        <p class="note">No forecast for {series === "fleet" ? "the fleet" : series} yet: the forecast cycle forecasts each node once it has a day of recent history, and the fleet once one has.</p>
      ) : (
        <div class="charts">
          {(forecasts.data ?? []).map((fc) => (
            <ForecastChart key={fc.target} forecast={fc} registered={nodes.data ? nodes.data.length : null} />
          ))}
        </div>
      )}
      <h3>How they did</h3>
      <div class="toolbar">
        <label>
          Forecasts of the last{" "}
          <select value={String(days)} onChange={(e) => setDays(Number(e.currentTarget.value))} data-testid="accuracy-days">
            <option value="1">day</option>
            <option value="7">7 days</option>
          </select>
        </label>
        <span class="muted small">each hour that has ended, against what was measured; MASE against yesterday's same hour</span>
      </div>
      <ErrorNote error={accuracy.error ? `Accuracy not available: ${accuracy.error}` : null} />
      {accuracy.data ? <AccuracyTable rows={[accuracy.data.load, accuracy.data.pv]} days={days} /> : accuracy.error ? null : <Loading what="the accuracy" />}
      <h2>Models and backtests</h2>
      <ErrorNote error={models.error ? `Models not available: ${models.error}` : null} />
      {models.data && models.data.models.length === 0 ? <p class="muted">No trained forecast model yet.</p> : null}
      {models.data && models.data.models.length ? (
        <div class="table-wrap">
          <p class="muted small">
            Each version as training measured it: fitted on its window's earlier days, scored on the last days held out
            (MASE against the seasonal naive), then refit on the whole window.
          </p>
          <table class="table" data-testid="models">
            <thead>
              <tr>
                <th>Model</th>
                <th>Target</th>
                <th>Trained</th>
                {metricCols.map((c) => (
                  <th key={c.name} class="num">
                    {c.heading}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {models.data.models.map((m) => (
                <tr key={`${m.name}-${m.version}`}>
                  <td>
                    {m.name} v{m.version} {m.champion ? <span class="pill st-completed">champion</span> : null}
                  </td>
                  <td>{m.target ? (TARGETS[m.target] ?? m.target) : "–"}</td>
                  <td>{time(m.trainedAt)}</td>
                  {metricCols.map((c) => (
                    <td key={c.name} class="num">
                      {num(m.metrics.find((x) => x.name === c.name)?.value, c.digits)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <h3>Backtest</h3>
      <ErrorNote error={backtest.error ? `Backtest not available: ${backtest.error}` : null} />
      {backtest.data && !bt ? <p class="muted">No backtest stored yet: run <code>vpp forecast backtest</code>.</p> : null}
      {bt ? (
        <div class="table-wrap">
          <p class="muted small">
            Run {time(bt.ranAt)} on buildings {bt.buildings.join(", ")}: fitted before {bt.testFrom.slice(0, 10)}, scored to {bt.testUntil.slice(0, 10)}. Chosen:{" "}
            {bt.best.map((b) => `${label(b.target)} ${b.model.toLowerCase()} (MASE ${num(b.mase, 3)}${b.meetsTarget ? ", meets 0.8" : ", misses 0.8"})`).join("; ")}
          </p>
          <table class="table" data-testid="backtest">
            <thead>
              <tr>
                <th>Target</th>
                <th>Series</th>
                <th>Model</th>
                <th class="num">MAE kW</th>
                <th class="num">MASE</th>
                <th class="num">80 % coverage</th>
                <th class="num">Fit s</th>
              </tr>
            </thead>
            <tbody>
              {bt.rows.map((r) => (
                <tr key={`${r.target}-${r.series}-${r.model}`}>
                  <td>{label(r.target)}</td>
                  <td>{r.series}</td>
                  <td>{r.model.toLowerCase()}</td>
                  <td class="num">{num(r.mae, 3)}</td>
                  <td class="num">{num(r.mase, 3)}</td>
                  <td class="num">{num(r.coverage80, 3)}</td>
                  <td class="num">{num(r.fitSeconds, 0)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
