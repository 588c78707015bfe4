// The kafka sink: an idempotent producer (acks all) sending each event keyed by its event.id, in record batches below
// max_message_bytes written by the sink itself, several produce requests in flight, every broker answer turned into
// the sink contract's outcomes.
import type * as KafkaLibrary from '@platformatic/kafka';
import type { BaseOptions, SASLOptions } from '@platformatic/kafka';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import type { EventVerdict, OutEvent, SendResult, Sink } from '../../core/contracts.js';
import { describeError, SinkError } from '../../core/errors.js';
import { raceAbort, sleep } from '../../core/util.js';
import type { Logger } from '../../telemetry/logger.js';
import { PerRoute } from '../common.js';
import { loadTls, tlsProblemOf } from '../tls.js';
import type { KafkaSinkConfig } from './config.js';
import { keyHash } from './partition.js';
import { ProduceClient, type ProduceItem, type ProduceOrder } from './producer.js';
import { BATCH_HEADER_BYTES, batchCodec, headerBlock, recordBytesAtMost, type BatchRecords } from './records.js';

let library: Promise<typeof KafkaLibrary> | undefined;
/**
 * The client library, loaded when a kafka sink first needs it: loading it costs the process ~50 MB of memory (its
 * modules and native CRC code), which a collector without a kafka sink should not carry.
 */
function kafkaLibrary(): Promise<typeof KafkaLibrary> {
  return (library ??= import('@platformatic/kafka'));
}

/** The three headers every message carries. */
const HEADER_NAMES = ['account', 'stream', 'log_type'] as const;

/** The topic an event goes to: the template with its placeholders filled in (values are legal topic characters). */
export function topicOf(template: string, e: Pick<OutEvent, 'stream' | 'account' | 'logType'>): string {
  return template.replace(/\{(stream|log_type|account)\}/g, (_m, p: string) => (p === 'stream' ? e.stream : p === 'account' ? e.account : e.logType === '' ? 'unknown' : e.logType));
}

/** The headers of `e`'s records: account, stream and log type. */
function headersOf(e: Pick<OutEvent, 'account' | 'stream' | 'logType'>): Buffer {
  const values = [e.account, e.stream, e.logType === '' ? 'unknown' : e.logType];
  return headerBlock(HEADER_NAMES.map((h, i) => [h, values[i] as string] as const));
}

/** What every event of one (account, stream, log type) shares: its topic and its records' header bytes, made once. */
interface Route {
  topic: string;
  headers: Buffer;
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

/** Events of one topic partition in one record batch: their positions in the events given to send. */
interface Chunk {
  topic: string;
  partition: number;
  idx: number[];
}

/**
 * Rounds of a send again for batches the broker answered it did not write for now: the producer's session broke (a
 * sequence gap after another batch failed, an expired producer id: a new producer id is taken) or the partition is
 * between leaders (NOT_LEADER_OR_FOLLOWER just after a topic is made or moved: the metadata is read again). The
 * library's producer did the same with two quick retries. Past these, and for a broker that does not answer at all,
 * the send goes back to the runner and its one backoff policy.
 */
const AGAIN_ROUNDS = 3;
/** The pause before such a round, times its number. */
const AGAIN_PAUSE_MS = 100;

/** A buffer the keys are written into to hash them (no Buffer per key). */
let keyScratch = Buffer.allocUnsafe(256);

/** The partition of a key among `count`: the Java client's murmur2 of its UTF-8 bytes, modulo the count. */
function partitionOf(id: string, bytes: number, count: number): number {
  if (keyScratch.length < bytes) keyScratch = Buffer.allocUnsafe(Math.max(bytes, keyScratch.length * 2));
  keyScratch.write(id, 0, bytes, 'utf8');
  return keyHash(keyScratch, bytes) % count;
}

export class KafkaSink implements Sink {
  readonly name: string;
  private client: ProduceClient | undefined;
  private clientInit: Promise<ProduceClient> | undefined;
  private readonly routes: PerRoute<Route>;
  private readonly tls: TlsConnectionOptions | undefined;
  /** Sends under way: close() waits for them. */
  private readonly sending = new Set<Promise<unknown>>();
  /** Settles once the last send given has stamped its first batches (ProduceOrder). */
  private turn: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly cfg: KafkaSinkConfig,
    private readonly log: Logger,
  ) {
    this.name = cfg.name;
    this.routes = new PerRoute((e) => ({ topic: topicOf(cfg.topic, e), headers: headersOf(e) }));
    this.tls = cfg.tls === undefined ? undefined : loadTls(cfg.tls, cfg.name, log, cfg.brokers.join(','));
    if (cfg.sasl?.mechanism === 'plain' && cfg.tls === undefined) {
      log.warn({ mechanism: 'plain' }, 'SASL PLAIN without tls sends the password in clear text: add a tls block (a SASL_SSL listener) or use scram-sha-512');
    }
  }

  /** How every client of this sink connects: brokers, timeouts, TLS, SASL. */
  private connection(): BaseOptions {
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

  private clientNow(): Promise<ProduceClient> {
    if (this.client !== undefined) return Promise.resolve(this.client);
    this.clientInit ??= kafkaLibrary()
      .then((lib) => {
        // The library's connections keep at most 5 requests in flight each (the brokers' limit for an idempotent
        // producer); more wait in the connection's queue, in order.
        this.client = new ProduceClient(lib, { ...this.connection(), maxInflights: 5 }, batchCodec(lib, this.cfg.compression), this.cfg.request_timeout);
        return this.client;
      })
      .finally(() => {
        this.clientInit = undefined;
      });
    return this.clientInit;
  }

  /** Drops the client and its connections (requests in flight fail); the next send makes a new one, with a new producer id. */
  private async dropClient(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c !== undefined) await c.close().catch(() => undefined);
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
    // Sends reach each partition in the order they were given (see ProduceOrder): a turn taken now.
    const turn = this.turn;
    let stamped!: () => void;
    this.turn = new Promise<void>((done) => (stamped = done));
    const run = this.sendNow(events, signal, { turn, stamped });
    const settled = run.catch(() => undefined);
    this.sending.add(settled);
    void settled.then(() => this.sending.delete(settled));
    return run;
  }

  private async sendNow(events: readonly OutEvent[], signal: AbortSignal, order: ProduceOrder): Promise<SendResult | void> {
    const onAbort = (): void => void this.dropClient();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (this.closed) throw new SinkError('SINK_RETRYABLE', `sink ${this.name}: the sink is closed`, this.name);
      return await this.produce(events, signal, order);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw err;
    } finally {
      order.stamped();
      signal.removeEventListener('abort', onAbort);
    }
  }

  private async produce(events: readonly OutEvent[], signal: AbortSignal, order: ProduceOrder): Promise<SendResult | void> {
    const max = this.cfg.max_message_bytes;
    const rejected: EventVerdict[] = [];
    const keyBytes = new Int32Array(events.length);
    const routes = new Array<Route>(events.length);
    const headers = new Array<Buffer>(events.length);
    const topics = new Set<string>();
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as OutEvent;
      keyBytes[i] = Buffer.byteLength(e.id, 'utf8');
      const route = this.routes.of(e);
      routes[i] = route;
      headers[i] = route.headers;
      topics.add(route.topic);
    }
    const client = await raceAbort(this.clientNow(), signal);
    const topicList = [...topics];
    let md: Awaited<ReturnType<ProduceClient['metadata']>>;
    try {
      md = await raceAbort(client.metadata(topicList), signal);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const f = await this.failureOf(err, topicList);
      throw this.error(f, `metadata for topic ${topicList.join(', ')}`, err);
    }

    // Each topic partition's events in the order given, in batches under max_message_bytes; an event over it alone
    // is never sent.
    const byPartition = new Map<string, Chunk[]>();
    const sizes = new Map<Chunk, number>();
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as OutEvent;
      const route = routes[i] as Route;
      const size = recordBytesAtMost(keyBytes[i] as number, e.size, route.headers.length);
      if (size + BATCH_HEADER_BYTES > max) {
        rejected.push({ index: i, reason: `the event is ${e.size} bytes, over max_message_bytes (${max}) with its key and headers: the brokers would refuse it (MESSAGE_TOO_LARGE)` });
        continue;
      }
      const count = md.topics.get(route.topic)?.partitionsCount ?? 1;
      const partition = count > 1 ? partitionOf(e.id, keyBytes[i] as number, count) : 0;
      const key = `${route.topic}\0${partition}`;
      let chunks = byPartition.get(key);
      if (chunks === undefined) byPartition.set(key, (chunks = [{ topic: route.topic, partition, idx: [] }]));
      let cur = chunks[chunks.length - 1] as Chunk;
      // The bytes of a chunk are kept beside it while it grows.
      const bytes = (sizes.get(cur) ?? BATCH_HEADER_BYTES) + size;
      if (cur.idx.length > 0 && bytes > max) {
        cur = { topic: route.topic, partition, idx: [] };
        chunks.push(cur);
        sizes.set(cur, BATCH_HEADER_BYTES + size);
      } else sizes.set(cur, bytes);
      cur.idx.push(i);
    }
    let pending: Chunk[] = [...byPartition.values()].flat();

    const records = (c: Chunk): BatchRecords => ({ events, idx: c.idx, from: 0, to: c.idx.length, keyBytes, headers });
    let delivered = 0;
    const retry: Chunk[] = [];
    let retryFailure: { f: Failure; err: unknown } | undefined;
    // After a failure, one batch per partition at a time: a batch written behind a refused one (a new producer id's
    // first batch refused leaves no sequence for the next to break) would land ahead of the refused one's halves.
    let serial = false;
    let first = true;
    for (let againRounds = 0; pending.length > 0; ) {
      if (signal.aborted) throw signal.reason;
      let round = pending;
      const later: Chunk[] = [];
      if (serial) {
        const heads = new Set<string>();
        round = [];
        for (const c of pending) {
          const key = `${c.topic}\0${c.partition}`;
          if (heads.has(key)) later.push(c);
          else {
            heads.add(key);
            round.push(c);
          }
        }
      }
      let results: Awaited<ReturnType<ProduceClient['produce']>>;
      try {
        // Only the first round keeps its turn among the sends: after a failure the order is already broken.
        results = await raceAbort(client.produce(round.map((c): ProduceItem => ({ topic: c.topic, partition: c.partition, records: records(c) })), first ? order : undefined), signal);
        first = false;
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        const f = await this.failureOf(err, topicList);
        if (f.kind === 'config') throw this.error(f, `producing to ${topicList.join(', ')}`, err);
        retry.push(...pending);
        retryFailure = { f, err };
        break;
      }
      // The next round, in the order of this one: a refused batch's halves in its place.
      const next: Chunk[] = [];
      let again = false;
      for (let k = 0; k < round.length; k++) {
        const c = round[k] as Chunk;
        const err = results[k]?.error;
        if (err === undefined) {
          delivered += c.idx.length;
          continue;
        }
        const f = classifyKafkaError(err);
        if (f.kind === 'config') throw this.error(f, `producing ${c.idx.length} records to ${c.topic}`, err);
        if (f.kind === 'refused') {
          if (c.idx.length === 1) {
            rejected.push({ index: c.idx[0] as number, reason: f.detail });
            this.log.warn({ kafka_code: f.code, event_id: events[c.idx[0] as number]?.id }, `${f.detail}: the event is dead-lettered (check the topic's max.message.bytes and max_message_bytes)`);
          } else {
            // The brokers take less than max_message_bytes: halves, down to the one record that is refused.
            const mid = Math.ceil(c.idx.length / 2);
            next.push({ ...c, idx: c.idx.slice(0, mid) }, { ...c, idx: c.idx.slice(mid) });
          }
        } else if ((f.kind === 'producer' || (f.kind === 'retryable' && typeof (err as { apiId?: unknown }).apiId === 'string')) && againRounds < AGAIN_ROUNDS) {
          again = true;
          next.push(c);
        } else {
          retry.push(c);
          retryFailure = { f, err };
        }
      }
      if (again) {
        againRounds++;
        await sleep(AGAIN_PAUSE_MS * againRounds, signal);
      }
      if (next.length > 0 || retry.length > 0) serial = true;
      pending = [...next, ...later];
    }
    if (retry.length > 0 && retryFailure !== undefined) {
      const records = retry.reduce((n, c) => n + c.idx.length, 0);
      const failure = this.error(retryFailure.f, `producing ${records} records`, retryFailure.err);
      if (delivered === 0 && rejected.length === 0) throw failure;
      // Part of the send went through: only the rest is sent again (after the runner's backoff).
      const again = retry.flatMap((c) => c.idx).sort((x, y) => x - y);
      return { retry: again.map((index) => ({ index, reason: failure.message })), ...(rejected.length > 0 ? { rejected } : {}) };
    }
    return rejected.length > 0 ? { rejected } : undefined;
  }

  /**
   * The brokers answer metadata with these credentials; a fixed topic exists (or is created, where the brokers
   * create topics); for a template, the topics it can name for the routed streams are looked at and missing ones
   * are named in a warning (the collector may never collect those streams).
   */
  async check(signal: AbortSignal): Promise<void> {
    const client = await this.clientNow();
    const onAbort = (): void => void this.dropClient();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const fixed = !/\{/.test(this.cfg.topic);
      let md: Awaited<ReturnType<ProduceClient['metadata']>>;
      try {
        md = await client.base.metadata({ topics: fixed ? [this.cfg.topic] : [], autocreateTopics: fixed, forceUpdate: true });
      } catch (err) {
        const f = await this.failureOf(err, fixed ? [this.cfg.topic] : []);
        throw this.error(f, fixed ? `metadata for topic ${this.cfg.topic}` : 'metadata', err);
      }
      this.log.info({ cluster: md.id, brokers: md.brokers.size }, `Kafka cluster ${md.id} answers (${md.brokers.size} broker${md.brokers.size === 1 ? '' : 's'})`);
      const placeholders = [...this.cfg.topic.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1]);
      const streams = this.cfg.streams ?? [];
      if (fixed || streams.length === 0 || placeholders.some((x) => x !== 'stream')) return;
      const wanted = streams.map((s) => topicOf(this.cfg.topic, { stream: s, account: '', logType: '' }));
      const known = await client.base.metadata({ topics: wanted, autocreateTopics: false, forceUpdate: true }).then(
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
      await (await this.clientNow()).base.metadata({ topics: [], forceUpdate: true });
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.sending]);
    await this.clientInit?.catch(() => undefined);
    const c = this.client;
    this.client = undefined;
    if (c !== undefined) await c.close().catch((err: unknown) => this.log.warn({ err: describeError(err) }, 'closing the Kafka producer failed'));
  }
}
