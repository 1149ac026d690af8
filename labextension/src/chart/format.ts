/** A number as charts and tables show it: at most 4 significant digits, or an em dash. */
export function formatValue(value: number | null | undefined): string {
  if (value === null || value === undefined) {
    return '—';
  }
  return Math.abs(value) >= 1e5 || (value !== 0 && Math.abs(value) < 1e-3)
    ? value.toExponential(3)
    : String(Number(value.toPrecision(4)));
}
