// Keeps only the SIEM types asked for: API 1.0 files carry every type, so the filter is ours.
import type { Batch, CursorFrom, NormalizedEvent, Source } from '../../core/contracts.js';

export class SiemTypeFilter implements Source {
  readonly key: string;
  readonly account: string;
  readonly stream = 'siem' as const;
  /** The inner source's, when it has one. */
  readonly cursorFrom?: (timeMs: number) => CursorFrom;
  constructor(
    private readonly inner: Source,
    private readonly types: ReadonlySet<string>,
  ) {
    this.key = inner.key;
    this.account = inner.account;
    const from = inner.cursorFrom;
    if (from !== undefined) this.cursorFrom = (timeMs) => from.call(inner, timeMs);
  }
  private keep(events: readonly NormalizedEvent[]): NormalizedEvent[] {
    return events.filter((e) => {
      const mc = e.doc['mimecast'];
      const type = typeof mc === 'object' && mc !== null ? (mc as Record<string, unknown>)['log_type'] : undefined;
      return typeof type !== 'string' || this.types.has(type);
    });
  }
  async *refetch(text: string, signal: AbortSignal): AsyncGenerator<Pick<Batch, 'events' | 'quarantined'>> {
    if (this.inner.refetch === undefined) return;
    for await (const b of this.inner.refetch(text, signal)) yield { ...b, events: this.keep(b.events) };
  }
  async *pull(cursor: string | undefined, signal: AbortSignal): AsyncGenerator<Batch> {
    for await (const batch of this.inner.pull(cursor, signal)) {
      const events = this.keep(batch.events);
      const counters = events.length === batch.events.length ? batch.counters : { ...batch.counters, siem_type_filtered: batch.events.length - events.length };
      yield { ...batch, events, ...(counters === undefined ? {} : { counters }) };
    }
  }
}
