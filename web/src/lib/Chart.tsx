import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { flatRange } from "./scale";

export interface SeriesSpec {
  label: string;
  color: string;
  unit?: string;
  fill?: string;
  dash?: number[];
  /** draw between this series and the next as a band (min/max, quantiles) */
  bandTo?: number;
}

interface Props {
  title: string;
  /** said under the title, in the warning colour */
  warning?: string | null;
  series: SeriesSpec[];
  data: (number | null)[][]; // [x seconds, ...y]
  height?: number;
  testId?: string;
  /** show this many seconds up to the newest point */
  window?: number;
  /** draw across missing points (false: a missing point breaks the line, as `withGaps` asks) */
  spanGaps?: boolean;
}

/** A time-series chart (uPlot), sized to its container. */
export function Chart({ title, warning, series, data, height = 200, testId, window: span, spanGaps = true }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const key = series.map((s) => s.label).join("|");

  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const bands: uPlot.Band[] = [];
    series.forEach((s, i) => {
      if (s.bandTo !== undefined) bands.push({ series: [i + 1, s.bandTo + 1], fill: s.fill ?? "rgba(80,140,255,0.15)" });
    });
    const opts: uPlot.Options = {
      width: el.clientWidth || 300,
      height,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: span ? { time: true, range: (_u, _min, max) => [max - span, max] } : { time: true },
        y: { range: (_u, min, max) => (min === null || max === null ? [min, max] : (flatRange(min, max) ?? uPlot.rangeNum(min, max, 0.1, true))) },
      },
      axes: [{ stroke: "#8a94a6", grid: { stroke: "#2a3242" } }, { stroke: "#8a94a6", grid: { stroke: "#2a3242" }, size: 56 }],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: s.bandTo !== undefined || s.dash ? 1 : 2,
          dash: s.dash,
          fill: s.bandTo === undefined ? s.fill : undefined,
          value: (_u: uPlot, v: number | null) => (v === null ? "–" : `${v.toFixed(2)}${s.unit ? " " + s.unit : ""}`),
          spanGaps,
        })),
      ],
      bands,
    };
    const chart = new uPlot(opts, data as uPlot.AlignedData, el);
    plot.current = chart;
    const resize = new ResizeObserver(() => chart.setSize({ width: el.clientWidth, height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
  }, [key, height, spanGaps, span]);

  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);

  return (
    <figure class="chart" data-testid={testId}>
      <figcaption>
        {title}
        {warning ? <span class="chart-warning">{warning}</span> : null}
      </figcaption>
      <div ref={box} />
    </figure>
  );
}
