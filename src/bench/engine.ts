// What bench:sinks and bench:engine share: the events they deliver and the real OpenSearch node they deliver to.
import type { NormalizedEvent } from '../core/contracts.js';
import { normalizeSiemV2Full } from '../sources/normalizers.js';
import { RecordFactory } from '../simulator/records.js';
import { engineJson, startSearchEngine } from '../testkit/search-engine.js';

/** `n` SIEM events normalized from the simulator's records (about 1.5 KB each as ECS JSON), the same every run. */
export function* benchEvents(n: number): Generator<NormalizedEvent> {
  const factory = new RecordFactory(0x5eed, 'bench-account');
  const t0 = Date.now() - 3 * 86_400_000;
  let made = 0;
  let offset = 0;
  for (let m = 0; made < n; m++) {
    const ts = t0 + m * 50;
    for (const t of factory.slots(factory.mask(m))) {
      if (made >= n) return;
      yield normalizeSiemV2Full(factory.record(m, t, offset++, ts, ts), { account: 'bench' });
      made++;
    }
  }
}

/** A real OpenSearch node with a data-stream template for the collector's indices, as a receiver. */
export async function startEngine(): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const engine = await startSearchEngine();
  await engineJson(engine.url, 'PUT', '/_index_template/mimecast-bench', {
    index_patterns: ['logs-mimecast.*-*'],
    data_stream: {},
    priority: 200,
    template: { settings: { number_of_shards: 1, number_of_replicas: 0, refresh_interval: '30s' } },
  });
  return { url: engine.url, pid: engine.pid, stop: () => engine.stop() };
}
