/**
 * Plain-text output of the benchmarks: one table per benchmark and a summary table,
 * each row with our number, the same-run baseline's number and ours/baseline.
 */
import { ratio, roundRate, type Round } from './stats.js';

/** One compared number: ours and the baseline's, in the same unit. */
export interface Measurement {
  benchmark: string;
  metric: string;
  unit: string;
  ours: number;
  baseline: number;
}

/** Three significant digits, without exponent notation for the ranges seen here. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude >= 100) return value.toFixed(0);
  if (magnitude >= 10) return value.toFixed(1);
  if (magnitude >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

/** Bytes as MiB with one decimal. */
export function mebibytes(bytes: number): number {
  return Math.round((bytes / (1024 * 1024)) * 10) / 10;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]): string => `| ${cells.map((cell, column) => cell.padEnd(widths[column])).join(' | ')} |`;
  const rule = `| ${widths.map((width) => '-'.repeat(width)).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

function measurementCells(measurement: Measurement): string[] {
  return [
    `${measurement.metric} (${measurement.unit})`,
    formatNumber(measurement.ours),
    formatNumber(measurement.baseline),
    `${formatNumber(ratio(measurement.ours, measurement.baseline))}x`,
  ];
}

/** Formats the table of one benchmark's measurements, with `oursName` and `baselineName` as column heads. */
export function sectionTable(oursName: string, baselineName: string, measurements: readonly Measurement[]): string {
  return table(['metric', oursName, baselineName, 'ours/baseline'], measurements.map(measurementCells));
}

/** Formats the final table over every benchmark. */
export function summaryTable(measurements: readonly Measurement[]): string {
  return table(
    ['benchmark', 'metric', 'ours', 'baseline', 'ours/baseline'],
    measurements.map((measurement) => [measurement.benchmark, ...measurementCells(measurement)]),
  );
}

/**
 * Formats one line with every round's throughput for both sides, in items per second,
 * to show how far the rounds spread around the reported median.
 */
export function roundsLine(oursName: string, ours: readonly Round[], baselineName: string, baseline: readonly Round[]): string {
  const rates = (rounds: readonly Round[]): string => rounds.map((round) => formatNumber(roundRate(round))).join(', ');
  return `throughput per round (items/s): ${oursName} ${rates(ours)}; ${baselineName} ${rates(baseline)}`;
}
