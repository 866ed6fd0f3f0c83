/** The y range of a chart whose values are all the same (a home's battery covering its load
 * draws 0 kW from the grid for hours), or null for values that vary, which uPlot ranges
 * itself. uPlot ranges a flat 0 as 0 to 100, which makes a home's 0 kW look like a scale in
 * the hundreds; this gives a flat value a tenth of itself either side (1 for a flat 0). */
export function flatRange(min: number, max: number): [number, number] | null {
  const size = Math.max(Math.abs(min), Math.abs(max));
  if (max - min > 1e-9 * Math.max(size, 1)) return null;
  const pad = size > 0 ? size * 0.1 : 1;
  return [min - pad, max + pad];
}
