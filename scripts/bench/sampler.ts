// Latency sampler in its own process (so the benchmark's own work does not count): `node sampler.ts URL SPACING_MS DURATION_MS` prints JSON samples.
const [url, spacing, duration] = process.argv.slice(2);
if (!url || !spacing || !duration) {
  process.stderr.write("usage: node scripts/bench/sampler.ts URL SPACING_MS DURATION_MS\n");
  process.exit(2);
}
// warm-up, not counted: the first requests of a process pay for loading fetch and opening the connection
for (let i = 0; i < 20; i++) await (await fetch(url)).arrayBuffer();
const samples = { times: [] as number[], statuses: [] as number[], stale: 0 };
const until = performance.now() + Number(duration);
while (performance.now() < until) {
  const start = performance.now();
  const response = await fetch(url);
  const body = (await response.json()) as { stale?: unknown };
  samples.times.push(performance.now() - start);
  samples.statuses.push(response.status);
  if (body.stale) samples.stale++;
  await new Promise((resolve) => setTimeout(resolve, Number(spacing)));
}
process.stdout.write(`${JSON.stringify(samples)}\n`);
