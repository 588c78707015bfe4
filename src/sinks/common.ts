// What every sink shares: the config keys for routing, format, batching and sends in flight, and the factory shape.
import { z } from 'zod';
import { StoredEvent, LOG_TYPES, type OutEvent, type Sink, type StreamName } from '../core/contracts.js';
import type { SinkBinding } from '../core/sink-runner.js';
import { durationIn, name, sizeIn, streamName } from '../config/common.js';
import { OUTPUT_FORMATS, renderDocument, type OutputFormat } from '../normalize/render.js';
import type { Logger } from '../telemetry/logger.js';

const logType = z.string().refine((t) => LOG_TYPES.includes(t), {
  error: (iss) => `unknown log type "${String(iss.input)}" (expected one of: ${LOG_TYPES.join(', ')})`,
});

/** How a sink groups events into one send. */
export const batchSchema = z.strictObject({
  /** Events in one send at most. 1–100000, default 1000. */
  max_events: z.number().int().min(1).max(100_000).default(1000),
  /** About this many bytes of rendered events in one send (before compression). 1KB–256MB, default 4MB. */
  max_bytes: sizeIn('1KB', '256MB').prefault('4MB'),
  /** How long a batch that is not full waits for more events. 0s–5m, default 1s. */
  max_wait: durationIn('0s', '5m').prefault('1s'),
});

/** The keys every sink takes, beside its `type` and its own. */
export const sinkCommon = {
  /** Names the sink in logs, /status and the journal's offsets. */
  name,
  /** Streams routed to this sink; all when absent. */
  streams: z
    .array(streamName)
    .min(1)
    .refine((t) => new Set(t).size === t.length, 'a stream is listed twice')
    .optional(),
  /** `mimecast.log_type` values routed to this sink (e.g. receipt, url_protect, audit); all when absent. */
  log_types: z
    .array(logType)
    .min(1)
    .refine((t) => new Set(t).size === t.length, 'a log type is listed twice')
    .optional(),
  /** What is sent: `ecs` (the ECS JSON document, default), `raw` (the API record plus mimecast.account/stream/log_type), `cef` or `leef` (one line). */
  format: z.enum(OUTPUT_FORMATS, { error: `expected one of: ${OUTPUT_FORMATS.join(', ')}` }).default('ecs'),
  batch: batchSchema.prefault({}),
  /** Sends in flight at once; the sink's journal offset still moves in order. 1–64, default 1. */
  concurrency: z.number().int().min(1).max(64).default(1),
};

/** The common keys once parsed. */
export interface SinkCommonConfig {
  name: string;
  streams?: readonly StreamName[] | undefined;
  log_types?: readonly string[] | undefined;
  format: OutputFormat;
  batch: z.output<typeof batchSchema>;
  concurrency: number;
}

export interface SinkContext {
  /** Already bound to the sink's name. */
  logger: Logger;
}

/**
 * One kind of sink, as its folder exports it: the `type` it answers to, its config schema (a strict object with
 * `type: z.literal(type)` and the common keys) and a factory. The registry (sinks/registry.ts) lists the kinds.
 */
export interface SinkKind<C extends SinkCommonConfig & { type: string }> {
  readonly type: C['type'];
  /** The sink renders `format` itself from the journaled document (it needs more of the event than the rendered text). */
  readonly rendersFormat?: boolean;
  create(cfg: C, ctx: SinkContext): Sink;
}

/** `format` as a render step for the sink runner; undefined for `ecs` (the journaled bytes are sent as they are). */
export function renderFor(format: OutputFormat): ((e: OutEvent) => OutEvent) | undefined {
  if (format === 'ecs') return undefined;
  return (e) => {
    const text = renderDocument(JSON.parse(e.json) as Record<string, unknown>, format);
    return new StoredEvent(e.seq, e.id, e.stream, e.account, e.time, Buffer.from(text, 'utf8'), e.logType);
  };
}

/** What the sink runner needs for a sink built from `cfg`; `rendersFormat`: the sink is given journaled documents. */
export function bindSink(sink: Sink, cfg: SinkCommonConfig, rendersFormat = false): SinkBinding {
  return {
    sink,
    streams: cfg.streams,
    logTypes: cfg.log_types,
    render: rendersFormat ? undefined : renderFor(cfg.format),
    batch: cfg.batch,
    concurrency: cfg.concurrency,
  };
}

/** What every event of one account, stream and log type shares in a sink's output (a header part, a topic, an index). */
type RouteOf = Pick<OutEvent, 'account' | 'stream' | 'logType'>;

/** Routes a PerRoute keeps before it starts over (a handful in practice: accounts × streams × log types). */
const MAX_ROUTES = 4096;

/**
 * Something a sink makes once per (account, stream, log type) and uses for each of its events: looked up through
 * nested maps, so an event costs no key string; bounded, so odd inputs cannot grow it without end.
 */
export class PerRoute<T> {
  private readonly byAccount = new Map<string, Map<string, Map<string, T>>>();
  private size = 0;

  constructor(private readonly make: (e: RouteOf) => T) {}

  of(e: RouteOf): T {
    let byStream = this.byAccount.get(e.account);
    if (byStream === undefined) this.byAccount.set(e.account, (byStream = new Map()));
    let byType = byStream.get(e.stream);
    if (byType === undefined) byStream.set(e.stream, (byType = new Map()));
    let v = byType.get(e.logType);
    if (v === undefined) {
      if (this.size >= MAX_ROUTES) {
        this.byAccount.clear();
        this.size = 0;
        return this.of(e);
      }
      v = this.make(e);
      byType.set(e.logType, v);
      this.size++;
    }
    return v;
  }
}
