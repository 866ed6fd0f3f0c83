// Pure helpers: formatting, the frequency band, the dispatch form's checks.

export type FreqStatus = "NORMAL" | "WARNING" | "CRITICAL" | "UNKNOWN";
export type Action = "CHARGE" | "DISCHARGE" | "DEFER_LOAD" | "HOLD";
export const ACTIONS: Action[] = ["CHARGE", "DISCHARGE", "DEFER_LOAD", "HOLD"];
export const TERMINAL = new Set(["COMPLETED", "PARTIAL", "FAILED", "CANCELLED", "REFUSED"]);
export const NOMINAL_HZ = 50;

export function num(value: number | null | undefined, digits = 1, unit = ""): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  // A value that rounds to zero is zero: -0.03 kW at one decimal reads 0.0, not -0.0.
  const shown = Math.abs(value) < 0.5 * 10 ** -digits ? 0 : value;
  const text = shown.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return unit ? `${text} ${unit}` : text;
}

/** kW with a sensible unit (MW past 10,000 kW). */
export function power(kw: number | null | undefined): string {
  if (kw === null || kw === undefined || !Number.isFinite(kw)) return "–";
  return Math.abs(kw) >= 10_000 ? num(kw / 1000, 2, "MW") : num(kw, 1, "kW");
}

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (s < 0) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function time(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString("en-GB", { hour12: false }) : "–";
}

/** The band of a grid frequency, as the API computes it: normal ±0.1 Hz, warning ±0.2 Hz. */
export function freqBand(freq: number | null | undefined): FreqStatus {
  if (freq === null || freq === undefined || !Number.isFinite(freq)) return "UNKNOWN";
  const dev = Math.abs(freq - NOMINAL_HZ);
  if (dev <= 0.1) return "NORMAL";
  if (dev <= 0.2) return "WARNING";
  return "CRITICAL";
}

/** A duration: seconds under two minutes, else minutes. */
export function duration(seconds: number): string {
  return seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
}

/** A command's latency: milliseconds while they are what matters (under 10 s), then as a
 * `duration` (a command that expired after hours reads "125 min", not "7476091 ms"). */
export function latency(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  return ms < 10_000 ? num(ms, 0, "ms") : duration(Math.round(ms / 1000));
}

// Enum values that are acronyms, shown as they are (PV, not "Pv").
const ACRONYMS = new Set(["PV", "SOC"]);

/** An enum value as words: DISCHARGE -> "Discharge", FLEET_MAX -> "Fleet max", PV -> "PV". */
export function label(value: string): string {
  if (ACRONYMS.has(value)) return value;
  return value.charAt(0) + value.slice(1).toLowerCase().replace(/_/g, " ");
}

export interface DispatchForm {
  allNodes: boolean;
  targets: string[];
  action: Action;
  kw: string;
  minutes: string;
}

export interface DispatchInput {
  action: Action;
  allNodes: boolean;
  targets: string[] | null;
  kw: number;
  durationS: number;
}

export const MAX_KW = 1_000_000;
export const MAX_MINUTES = 24 * 60;
export const MIN_MINUTES = 0.1; // 6 s

/** The mutation's input, or the form's problems by field (`targets`, `kw`, `minutes`). */
export function checkDispatch(form: DispatchForm): { input: DispatchInput | null; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  if (!form.allNodes && form.targets.length === 0) errors["targets"] = "Choose at least one node, or all nodes.";
  const kwText = form.kw.trim();
  const kw = Number(kwText);
  if (kwText === "" || !Number.isFinite(kw)) {
    errors["kw"] = "kW must be a number, e.g. 20 or 12.5.";
  } else if (kw < 0) {
    errors["kw"] = "kW cannot be negative: choose charge or discharge for the direction.";
  } else if (kw === 0 && form.action !== "HOLD") {
    errors["kw"] = `kW must be greater than 0 to ${label(form.action).toLowerCase()}.`;
  } else if (kw > MAX_KW) {
    errors["kw"] = `kW must be at most ${MAX_KW.toLocaleString("en")}.`;
  }
  const minText = form.minutes.trim();
  const minutes = Number(minText);
  if (minText === "" || !Number.isFinite(minutes) || minutes < MIN_MINUTES || minutes > MAX_MINUTES) {
    errors["minutes"] = `Duration must be a number of minutes from ${MIN_MINUTES} to ${MAX_MINUTES}.`;
  }
  if (Object.keys(errors).length) return { input: null, errors };
  return {
    input: {
      action: form.action,
      allNodes: form.allNodes,
      targets: form.allNodes ? null : [...form.targets],
      kw,
      durationS: Math.round(minutes * 60),
    },
    errors,
  };
}

/** A rolling window of [epoch seconds, ...values] rows, kept to `seconds`. */
export function pushWindow(rows: number[][], row: number[], seconds: number): number[][] {
  const cutoff = row[0] - seconds;
  const kept = rows.filter((r) => r[0] >= cutoff && r[0] < row[0]);
  kept.push(row);
  return kept;
}

/** `rows` (sorted by time) with an empty row wherever two neighbours are more than
 * `maxStepS` apart, so a chart breaks its line there instead of drawing one across an
 * hour nothing reported. */
export function withGaps(rows: number[][], maxStepS: number): number[][] {
  const out: number[][] = [];
  for (const row of rows) {
    const prev = out[out.length - 1];
    if (prev && row[0] - prev[0] > maxStepS) out.push([(prev[0] + row[0]) / 2, ...row.slice(1).map(() => NaN)]);
    out.push(row);
  }
  return out;
}

/** Columns (uPlot's data layout) of rows. */
export function columns(rows: number[][], width: number): (number | null)[][] {
  const out: (number | null)[][] = Array.from({ length: width }, () => []);
  for (const row of rows) for (let i = 0; i < width; i++) out[i].push(Number.isFinite(row[i]) ? row[i] : null);
  return out;
}

// A trained model's metrics as the registry stores them (`vpp.ml.forecast.metrics`),
// in the order an operator reads them; a name not listed follows, as it is.
const METRICS: [name: string, heading: string, digits: number][] = [
  ["mase", "MASE", 3],
  ["mae", "MAE kW", 3],
  ["rmse", "RMSE kW", 3],
  ["naive_mae", "Naive MAE kW", 3],
  ["coverage_80", "80 % coverage", 3],
  ["series", "Series", 0],
  ["origins", "Origins", 0],
  ["fit_s", "Fit s", 1],
  ["predict_s", "Predict s", 1],
];

/** The metric names of `names` in reading order, each with its heading and decimals. */
export function metricColumns(names: Iterable<string>): { name: string; heading: string; digits: number }[] {
  const present = new Set(names);
  const known = METRICS.filter(([name]) => present.has(name)).map(([name, heading, digits]) => ({ name, heading, digits }));
  const listed = new Set(METRICS.map(([name]) => name));
  const other = [...present].filter((name) => !listed.has(name)).map((name) => ({ name, heading: name, digits: 3 }));
  return [...known, ...other];
}

/** A dispatch's nodes by final status (`StatusCounts`, as much of it as is asked for). */
export interface Outcome {
  completed: number;
  rejected: number;
  expired: number;
  cancelled: number;
  total: number;
}

/** How a dispatch fell short, from its nodes' statuses: "0 of 2 completed: 2 expired". */
export function shortfall(counts: Outcome): string {
  const missed = (["rejected", "expired", "cancelled"] as const).filter((k) => counts[k] > 0).map((k) => `${counts[k]} ${k}`);
  return `${counts.completed} of ${counts.total} completed${missed.length ? `: ${missed.join(", ")}` : ""}`;
}

/** "1 node", "3 nodes": a count with its noun, plural when it is not one. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
