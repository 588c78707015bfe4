// The real OpenSearch node's own ceiling, to read bench:sinks' `opensearch` figure against: the same documents, data
// stream and template, as `_bulk` bodies built before the clock starts (`create`, `_id` = event.id, 2,000 per
// request, 4 requests in flight, no gzip), posted by a bare loop. Prints documents/s and the engine's CPU seconds
// per 100k documents. BENCH_EVENTS=N (default 100000).
import { cpus } from 'node:os';
import { engineJson } from '../testkit/search-engine.js';
import { benchEvents, startEngine } from './engine.js';
import { procStat } from './proc.js';

async function main(): Promise<void> {
  const n = Number(process.env['BENCH_EVENTS'] ?? 100_000);
  const bodies: string[] = [];
  let lines: string[] = [];
  let made = 0;
  for (const ev of benchEvents(n)) {
    lines.push(`{"create":{"_index":"logs-mimecast.siem-default","_id":${JSON.stringify(ev.id)}}}\n${ev.json ?? JSON.stringify(ev.doc)}\n`);
    made++;
    if (lines.length === 2000) {
      bodies.push(lines.join(''));
      lines = [];
    }
  }
  if (lines.length > 0) bodies.push(lines.join(''));
  process.stdout.write(`bench:engine ${made} documents (${cpus().length} cpus, ${cpus()[0]?.model ?? '?'}, node ${process.version})\n`);
  const engine = await startEngine();
  try {
    const cpuAtStart = procStat(engine.pid).cpuSeconds;
    const started = process.hrtime.bigint();
    let next = 0;
    let failed = 0;
    await Promise.all(
      [0, 1, 2, 3].map(async () => {
        while (next < bodies.length) {
          const body = bodies[next++] as string;
          const res = await fetch(`${engine.url}/_bulk?filter_path=errors`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
          const reply = (await res.json()) as { errors?: boolean };
          if (res.status !== 200 || reply.errors !== false) failed++;
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = procStat(engine.pid).cpuSeconds - cpuAtStart;
    await engineJson(engine.url, 'POST', '/logs-mimecast.siem-default/_refresh');
    const { count } = await engineJson(engine.url, 'GET', '/logs-mimecast.siem-default/_count');
    if (failed > 0 || count !== made) throw new Error(`${failed} bulk requests failed; the engine counts ${String(count)} of ${made} documents`);
    process.stdout.write(`bench:engine opensearch _bulk from a bare loop: ${made} documents in ${seconds.toFixed(1)} s = ${Math.round(made / seconds)} documents/s, engine ${((cpu / made) * 100_000).toFixed(2)} CPU s per 100k\n`);
  } finally {
    await engine.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
