// For pipeline tests: a source that yields a fixed list of events once (in batches of `per`) and is then caught up.
import type { Batch, NormalizedEvent, Source, StreamName } from '../core/contracts.js';

/** The cursor is how many events were yielded, so a restarted pipeline resumes after what was journaled. */
export function onceSource(events: readonly NormalizedEvent[], opts: { per?: number; stream?: StreamName; account?: string } = {}): Source {
  const stream = opts.stream ?? 'siem';
  const account = opts.account ?? 'corp';
  const per = opts.per ?? Math.max(1, events.length);
  return {
    key: `${account}/${stream}`,
    account,
    stream,
    async *pull(cursor): AsyncGenerator<Batch> {
      for (let i = Number(cursor ?? '0'); i < events.length; i += per) {
        await Promise.resolve();
        yield { cursor: String(Math.min(events.length, i + per)), events: events.slice(i, i + per) };
      }
    },
  };
}
