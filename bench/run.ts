/**
 * Entry of `npm run bench`. Logging defaults to errors only, so per-message log lines
 * neither flood the tables nor cost time in the measured code. Set LOG_LEVEL to see them.
 * The level is read when the logger module loads, so the benchmarks are imported after it.
 */
process.env.LOG_LEVEL ??= 'error';

const { runBenchmarks } = await import('./suite.js');

try {
  await runBenchmarks();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
}
