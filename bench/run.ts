/**
 * Entry of `npm run bench`. Logging defaults to errors only so that the per-message
 * log lines neither flood the tables nor cost time in the measured code; set LOG_LEVEL
 * to see them. The level must be set before the logger module loads, hence the
 * dynamic import.
 */
process.env.LOG_LEVEL ??= 'error';

const { runBenchmarks } = await import('./suite.js');

try {
  await runBenchmarks();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
}
