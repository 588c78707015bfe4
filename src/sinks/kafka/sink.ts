// The kafka sink: an idempotent producer (acks all) sending each event keyed by its event.id, in record batches below
// max_message_bytes, with every broker answer turned into the sink contract's outcomes.
import type * as KafkaLibrary from '@platformatic/kafka';
import type { MessageToProduce, Producer, SASLOptions } from '@platformatic/kafka';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import type { EventVerdict, OutEvent, SendResult, Sink } from '../../core/contracts.js';
import { describeError, SinkError } from '../../core/errors.js';
import type { Logger } from '../../telemetry/logger.js';
import { PerRoute } from '../common.js';
import { loadTls, tlsProblemOf } from '../tls.js';
import type { KafkaSinkConfig } from './config.js';
import { keyHash } from './partition.js';

let library: Promise<typeof KafkaLibrary> | undefined;
/**
 * The client library, loaded when a kafka sink first needs it: loading it costs the process ~50 MB of memory (its
 * modules and native CRC code), which a collector without a kafka sink should not carry.
 */
function kafkaLibrary(): Promise<typeof KafkaLibrary> {
  return (library ??= import('@platformatic/kafka'));
}

/** A record batch's own header (v2), counted once per batch. */
const BATCH_OVERHEAD = 61;
/** A record's framing at most (length, attributes, timestamp and offset deltas, key/value lengths, header count). */
const RECORD_OVERHEAD = 24;

/** The three headers every message carries. */
const HEADER_NAMES = ['account', 'stream', 'log_type'] as const;

/** The topic an event goes to: the template with its placeholders filled in (values are legal topic characters). */
export function topicOf(template: string, e: Pick<OutEvent, 'stream' | 'account' | 'logType'>): string {
  return template.replace(/\{(stream|log_type|account)\}/g, (_m, p: string) => (p === 'stream' ? e.stream : p === 'account' ? e.account : e.logType === '' ? 'unknown' : e.logType));
}

/** The bytes the three header names take in a record, with their framing. */
const HEADER_NAMES_BYTES = HEADER_NAMES.reduce((n, h) => n + h.length + 4, 0);

/** Bytes an event takes in a record batch, at most (before compression). */
export function recordSize(e: OutEvent): number {
  const headers = Buffer.byteLength(e.account) + e.stream.length + Buffer.byteLength(e.logType) + HEADER_NAMES_BYTES;
  return RECORD_OVERHEAD + Buffer.byteLength(e.id) + e.size + headers;
}

/**
 * What every event of one (account, stream, log type) shares: its topic and its headers, made once. The library only
 * reads a message's headers (it copies them into a map of its own per record), so one map serves all these events.
 */
interface Route {
  topic: string;
  headers: Map<Buffer, Buffer>;
  /** The headers' bytes in a record, framing included. */
  headerBytes: number;
}

/** The names of the headers, as the record's bytes. */
const HEADER_KEYS = HEADER_NAMES.map((h) => Buffer.from(h, 'utf8'));

/** The topic and headers of the events of `e`'s account, stream and log type. */
function routeOf(template: string, e: Pick<OutEvent, 'account' | 'stream' | 'logType'>): Route {
  const values = [e.account, e.stream, e.logType === '' ? 'unknown' : e.logType].map((v) => Buffer.from(v, 'utf8'));
  const headers = new Map(HEADER_KEYS.map((k, i) => [k, values[i] as Buffer]));
  return { topic: topicOf(template, e), headers, headerBytes: values.reduce((n, v) => n + v.length, HEADER_NAMES_BYTES) };
}

/** How the sink acts on a failed produce or metadata call. */
export type Failure =
  | { kind: 'refused'; code: string; detail: string }
  | { kind: 'config'; code: string; detail: string }
  | { kind: 'producer'; code: string; detail: string }
  | { kind: 'retryable'; code: string; detail: string };

/** Broker error codes that refuse these records as they are: split down to the one record, then dead-lettered. */
const REFUSED = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE']);
/** Broker error codes only the operator can fix, and the key to look at. */
const CONFIG: Readonly<Record<string, string>> = {
  SASL_AUTHENTICATION_FAILED: 'the brokers refused the SASL credentials: check sasl.username and sasl.password (and sasl.mechanism)',
  UNSUPPORTED_SASL_MECHANISM: 'the brokers do not enable this SASL mechanism on this listener: check sasl.mechanism (and brokers: the right listener port?)',
  ILLEGAL_SASL_STATE: 'the brokers did not expect SASL here: is this listener SASL_PLAINTEXT / SASL_SSL? (check brokers and sasl)',
  UNKNOWN_TOPIC_OR_PARTITION: 'the topic does not exist and the brokers do not create topics (auto.create.topics.enable=false): create it, or fix topic',
  INVALID_TOPIC_EXCEPTION: 'the brokers refuse this topic name: fix topic',
  TOPIC_AUTHORIZATION_FAILED: 'these credentials may not write to the topic (an ACL for WRITE on it is needed): check sasl.username or the broker ACLs',
  CLUSTER_AUTHORIZATION_FAILED: 'these credentials may not use an idempotent producer (the cluster ACL IDEMPOTENT_WRITE is needed): check sasl.username or the broker ACLs',
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 'these credentials may not initialise a producer id: check sasl.username or the broker ACLs',
};
/** The producer's own session is broken (sequence or epoch): a new producer, then the same events again. */
const PRODUCER = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_ID_MAPPING', 'DUPLICATE_SEQUENCE_NUMBER']);

/** Every error in a library error's tree: itself, the errors it aggregates and its causes. */
export function errorsIn(err: unknown, out: Error[] = [], depth = 0): Error[] {
  if (!(err instanceof Error) || depth > 8 || out.includes(err)) return out;
  out.push(err);
  const nested = (err as { errors?: unknown }).errors;
  if (Array.isArray(nested)) for (const e of nested) errorsIn(e, out, depth + 1);
  errorsIn((err as { cause?: unknown }).cause, out, depth + 1);
  return out;
}

/** What a library error means for the sink, from the codes in it (never its message text). */
export function classifyKafkaError(err: unknown): Failure {
  const all = errorsIn(err);
  for (const e of all) {
    const tls = tlsProblemOf(e);
    if (tls !== undefined) return { kind: 'config', code: tls.code, detail: `TLS ${tls.kind === 'verification' ? 'verification failed' : 'alert from the broker'} (${tls.code}): ${tls.hint}` };
  }
  const apiIds = all.map((e) => (e as { apiId?: unknown }).apiId).filter((id): id is string => typeof id === 'string');
  const server = (id: string): string => {
    const e = all.find((x) => (x as { apiId?: unknown }).apiId === id) as { serverErrorMessage?: unknown } | undefined;
    return typeof e?.serverErrorMessage === 'string' && e.serverErrorMessage !== '' ? `: ${e.serverErrorMessage}` : '';
  };
  const refused = apiIds.find((id) => REFUSED.has(id));
  if (refused !== undefined) return { kind: 'refused', code: refused, detail: `the broker refused the records (${refused}${server(refused)})` };
  const config = apiIds.find((id) => CONFIG[id] !== undefined);
  if (config !== undefined) return { kind: 'config', code: config, detail: `${config}${server(config)}: ${CONFIG[config] ?? ''}` };
  if (all.some((e) => (e as { code?: unknown }).code === 'PLT_KFK_AUTHENTICATION')) {
    return { kind: 'config', code: 'PLT_KFK_AUTHENTICATION', detail: `SASL authentication failed (${describeError(err)}): check sasl.username, sasl.password and sasl.mechanism` };
  }
  const producer = apiIds.find((id) => PRODUCER.has(id));
  if (producer !== undefined) return { kind: 'producer', code: producer, detail: `the producer's session was refused (${producer}): starting a new producer` };
  const first = apiIds[0] ?? (all.find((e) => typeof (e as { code?: unknown }).code === 'string') as { code?: string } | undefined)?.code ?? 'unknown';
  const leaf = all[all.length - 1];
  return { kind: 'retryable', code: first, detail: `${describeError(err)}${leaf !== undefined && leaf !== err ? ` (${leaf.message})` : ''}` };
}

/** A message as the sink hands it to the library: bytes throughout, the partition given as the key's hash. */
type Message = MessageToProduce<Buffer, Buffer, Buffer, Buffer> & { key: Buffer };

interface Chunk {
  /** Positions in the events given to send. */
  idx: number[];
}

export class KafkaSink implements Sink {
  readonly name: string;
  private producer: Producer<Buffer, Buffer, Buffer, Buffer> | undefined;
  private readonly routes: PerRoute<Route>;
  private readonly tls: TlsConnectionOptions | undefined;
  /** Sends one after the other: the idempotent producer numbers each partition's records in order. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly cfg: KafkaSinkConfig,
    private readonly log: Logger,
  ) {
    this.name = cfg.name;
    this.routes = new PerRoute((e) => routeOf(cfg.topic, e));
    this.tls = cfg.tls === undefined ? undefined : loadTls(cfg.tls, cfg.name, log, cfg.brokers.join(','));
    if (cfg.sasl?.mechanism === 'plain' && cfg.tls === undefined) {
      log.warn({ mechanism: 'plain' }, 'SASL PLAIN without tls sends the password in clear text: add a tls block (a SASL_SSL listener) or use scram-sha-512');
    }
  }

  /** How every client of this sink connects: brokers, timeouts, TLS, SASL. */
  private connection(): { clientId: string; bootstrapBrokers: string[]; timeout: number; requestTimeout: number; connectTimeout: number; tls?: TlsConnectionOptions; tlsServerName?: string; sasl?: SASLOptions } {
    const c = this.cfg;
    const sasl: SASLOptions | undefined = c.sasl === undefined ? undefined : { mechanism: c.sasl.mechanism === 'plain' ? 'PLAIN' : c.sasl.mechanism === 'scram-sha-256' ? 'SCRAM-SHA-256' : 'SCRAM-SHA-512', username: c.sasl.username, password: c.sasl.password };
    return {
      clientId: c.client_id,
      bootstrapBrokers: c.brokers,
      timeout: c.request_timeout,
      requestTimeout: c.request_timeout,
      connectTimeout: Math.min(c.request_timeout, 10_000),
      ...(this.tls === undefined ? {} : { tls: this.tls }),
      ...(c.tls?.server_name === undefined ? {} : { tlsServerName: c.tls.server_name }),
      ...(sasl === undefined ? {} : { sasl }),
    };
  }

  private async producerNow(): Promise<Producer<Buffer, Buffer, Buffer, Buffer>> {
    if (this.producer !== undefined) return this.producer;
    const { Producer } = await kafkaLibrary();
    // Another call may have made one while the library loaded.
    if (this.producer !== undefined) return this.producer;
    const c = this.cfg;
    this.producer = new Producer<Buffer, Buffer, Buffer, Buffer>({
      ...this.connection(),
      idempotent: true,
      acks: -1,
      compression: c.compression,
      // The library resends a produce request whose answer was lost with the same sequence numbers, which the broker
      // recognises (no duplicate): two quick tries keep that. Past them the send fails to the sink runner, whose one
      // backoff policy takes over (the library turns retries of 0 or 1 into unlimited for an idempotent producer).
      retries: 2,
      retryDelay: 250,
      // A topic the brokers may create (auto.create.topics.enable) is created by the first send to it.
      autocreateTopics: true,
      // Each message comes with its key's hash as its partition (see message()): the library takes it modulo the
      // topic's partition count, and headers come as bytes (no serializers).
    });
    return this.producer;
  }

  /** Drops the producer (a new one, with a new producer id, is made by the next send). */
  private async dropProducer(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    if (p !== undefined) await new Promise<void>((done) => p.close(true, () => done()));
  }

  /**
   * The failure an error means, with the topics the failed call named: the library reports a topic the brokers
   * neither have nor create as a plain user error (no broker code kept), so the topics are looked up to tell it apart.
   */
  private async failureOf(err: unknown, topics: readonly string[]): Promise<Failure> {
    const f = classifyKafkaError(err);
    if (f.kind !== 'retryable' || !errorsIn(err).some((e) => (e as { code?: unknown }).code === 'PLT_KFK_USER')) return f;
    const { Admin } = await kafkaLibrary();
    const admin = new Admin({ ...this.connection(), retries: 0 });
    try {
      const have = new Set(await admin.listTopics());
      const missing = [...new Set(topics)].filter((t) => !have.has(t));
      if (missing.length === 0) return f;
      return { kind: 'config', code: 'UNKNOWN_TOPIC_OR_PARTITION', detail: `topic ${missing.join(', ')} does not exist and the brokers did not create it (auto.create.topics.enable=false): create it, or fix topic` };
    } catch {
      return f;
    } finally {
      await admin.close().catch(() => undefined);
    }
  }

  private error(f: Failure, what: string, cause: unknown): SinkError {
    const code = f.kind === 'config' ? 'SINK_CONFIG' : 'SINK_RETRYABLE';
    return new SinkError(code, `sink ${this.name}: ${what}: ${f.detail}`, this.name, { cause, details: { kafka_code: f.code } });
  }

  send(events: readonly OutEvent[], signal: AbortSignal): Promise<SendResult | void> {
    const run = this.queue.then(() => this.sendNow(events, signal));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async sendNow(events: readonly OutEvent[], signal: AbortSignal): Promise<SendResult | void> {
    if (this.closed) throw new SinkError('SINK_RETRYABLE', `sink ${this.name}: the sink is closed`, this.name);
    const max = this.cfg.max_message_bytes;
    const rejected: EventVerdict[] = [];
    // Each event's message is made once (a chunk split after a refusal reuses them); record batches under
    // max_message_bytes, in order; an event over it alone is never sent.
    const messages: Message[] = new Array<Message>(events.length);
    const chunks: Chunk[] = [];
    let cur: Chunk = { idx: [] };
    let bytes = BATCH_OVERHEAD;
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as OutEvent;
      const m = this.message(e);
      const size = RECORD_OVERHEAD + m.key.length + e.size + this.routes.of(e).headerBytes;
      if (size + BATCH_OVERHEAD > max) {
        rejected.push({ index: i, reason: `the event is ${e.size} bytes, over max_message_bytes (${max}) with its key and headers: the brokers would refuse it (MESSAGE_TOO_LARGE)` });
        continue;
      }
      messages[i] = m;
      if (cur.idx.length > 0 && bytes + size > max) {
        chunks.push(cur);
        cur = { idx: [] };
        bytes = BATCH_OVERHEAD;
      }
      cur.idx.push(i);
      bytes += size;
    }
    if (cur.idx.length > 0) chunks.push(cur);

    let delivered = 0;
    const onAbort = (): void => void this.dropProducer();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (chunks.length > 0) {
        const chunk = chunks.shift() as Chunk;
        if (signal.aborted) throw signal.reason;
        try {
          await (await this.producerNow()).send({ messages: chunk.idx.map((i) => messages[i] as Message) });
          delivered += chunk.idx.length;
          continue;
        } catch (err) {
          if (signal.aborted) throw signal.reason;
          const f = await this.failureOf(err, chunk.idx.map((i) => topicOf(this.cfg.topic, events[i] as OutEvent)));
          if (f.kind === 'refused') {
            if (chunk.idx.length === 1) {
              rejected.push({ index: chunk.idx[0] as number, reason: f.detail });
              this.log.warn({ kafka_code: f.code, event_id: events[chunk.idx[0] as number]?.id }, `${f.detail}: the event is dead-lettered (check the topic's max.message.bytes and max_message_bytes)`);
            } else {
              // The brokers take less than max_message_bytes: halves, down to the one record that is refused.
              const mid = Math.ceil(chunk.idx.length / 2);
              chunks.unshift({ idx: chunk.idx.slice(0, mid) }, { idx: chunk.idx.slice(mid) });
            }
            continue;
          }
          if (f.kind === 'producer') await this.dropProducer();
          const failure = this.error(f, `producing ${chunk.idx.length} records`, err);
          if (f.kind === 'config') throw failure;
          if (delivered === 0 && rejected.length === 0) throw failure;
          // Part of the send went through: only the rest is sent again (after the runner's backoff).
          const rest = [chunk, ...chunks].flatMap((c) => c.idx).map((index) => ({ index, reason: failure.message }));
          return { retry: rest, ...(rejected.length > 0 ? { rejected } : {}) };
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    return rejected.length > 0 ? { rejected } : undefined;
  }

  private message(e: OutEvent): Message {
    const route = this.routes.of(e);
    const key = Buffer.from(e.id, 'utf8');
    return {
      topic: route.topic,
      key,
      // The journal's bytes, not a copy: they stay valid until this send settles, and the library is done with them
      // by then (it resends from them only within the send).
      value: e.bytes,
      headers: route.headers,
      // The Java client's key hashing (murmur2, sign bit masked), in integer arithmetic: an event.id lands in the
      // partition any other Kafka producer would pick for it. The library takes it modulo the partition count.
      partition: keyHash(key),
    };
  }

  /**
   * The brokers answer metadata with these credentials; a fixed topic exists (or is created, where the brokers
   * create topics); for a template, the topics it can name for the routed streams are looked at and missing ones
   * are named in a warning (the collector may never collect those streams).
   */
  async check(signal: AbortSignal): Promise<void> {
    const p = await this.producerNow();
    const onAbort = (): void => void this.dropProducer();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const fixed = !/\{/.test(this.cfg.topic);
      let md: Awaited<ReturnType<typeof p.metadata>>;
      try {
        md = await p.metadata({ topics: fixed ? [this.cfg.topic] : [], autocreateTopics: fixed, forceUpdate: true });
      } catch (err) {
        const f = await this.failureOf(err, fixed ? [this.cfg.topic] : []);
        throw this.error(f, fixed ? `metadata for topic ${this.cfg.topic}` : 'metadata', err);
      }
      this.log.info({ cluster: md.id, brokers: md.brokers.size }, `Kafka cluster ${md.id} answers (${md.brokers.size} broker${md.brokers.size === 1 ? '' : 's'})`);
      const placeholders = [...this.cfg.topic.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1]);
      const streams = this.cfg.streams ?? [];
      if (fixed || streams.length === 0 || placeholders.some((x) => x !== 'stream')) return;
      const wanted = streams.map((s) => topicOf(this.cfg.topic, { stream: s, account: '', logType: '' }));
      const known = await p.metadata({ topics: wanted, autocreateTopics: false, forceUpdate: true }).then(
        (m) => new Set(m.topics.keys()),
        () => undefined,
      );
      const missing = known === undefined ? [] : wanted.filter((t) => !known.has(t));
      if (missing.length > 0) this.log.warn({ topics: missing }, 'these topics do not exist yet: the first send creates them only where the brokers have auto.create.topics.enable=true; otherwise that send stops the sink');
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** True when the brokers answer metadata. */
  async probe(): Promise<boolean> {
    try {
      await (await this.producerNow()).metadata({ topics: [], forceUpdate: true });
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    const p = this.producer;
    this.producer = undefined;
    if (p !== undefined) await p.close().catch((err: unknown) => this.log.warn({ err: describeError(err) }, 'closing the Kafka producer failed'));
  }
}
