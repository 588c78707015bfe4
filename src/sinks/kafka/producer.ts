// The sink's own produce path: record batches it wrote itself, sent in produce requests over the client library's
// connections (TLS, SASL), with the library's metadata and InitProducerId; sequence numbers taken when a batch is
// written, so several requests per partition leader are in flight at once (the library's idempotent producer allows one).
import type * as KafkaLibrary from '@platformatic/kafka';
import type { Base, BaseOptions, ClusterMetadata, Connection, ResponseParser } from '@platformatic/kafka';
import { Arena, encodeBatch, type BatchCodec, type BatchRecords } from './records.js';

type Library = typeof KafkaLibrary;

/** One record batch to produce: the records of one topic partition. */
export interface ProduceItem {
  topic: string;
  partition: number;
  records: BatchRecords;
}

/**
 * Where a produce call stands among others: its batches are stamped and handed to the connections only after `turn`
 * (the previous call's stamping) settles, and it calls `stamped` once its own are (or once it gives up). Sends
 * given in some order then reach each partition in that order, whatever each one waited for on the way.
 */
export interface ProduceOrder {
  turn: Promise<void>;
  stamped(): void;
}

/** What became of one item: acknowledged by the partition leader (acks all), or the error it failed with. */
export interface ProduceResult {
  error?: Error;
}

/**
 * A producer id and epoch from InitProducerId, with the next sequence number of each partition under it. Once a batch
 * stamped with it fails, what the broker holds of that partition's sequence is unknown: the session is stale, and the
 * next batches are stamped with a new producer id (sequences from 0). A failed batch is never resent under its old
 * numbers, so the broker cannot drop a repeat of it: the only duplicates this makes are the records of a batch the
 * broker wrote whose answer was lost (connection closed, timeout), written again under the new id with the same key
 * (event.id) and value. A batch the broker answered with an error was not written and is not duplicated.
 */
interface Session {
  producerId: bigint;
  producerEpoch: number;
  seqs: Map<string, number>;
  stale: boolean;
}

/** The produce API version used and how its answer is read. */
interface ProduceApi {
  version: number;
  /** v9 and later: compact strings and arrays, tagged fields, request header v2. */
  flexible: boolean;
  parse: ResponseParser<unknown>;
}

/** The answer of a produce request, as far as the sink reads it. */
interface ProduceAnswer {
  responses: Array<{ name: string; partitionResponses: Array<{ index: number; errorCode: number; errorMessage: string | null }> }>;
}

const MAX_SEQUENCE = 0x7fffffff;

/** The sequence number after `n` records from `seq` (sequence numbers wrap to 0 after 2^31-1, as the Java client's do). */
export function nextSequence(seq: number, n: number): number {
  return seq > MAX_SEQUENCE - n ? n - (MAX_SEQUENCE - seq) - 1 : seq + n;
}

/** The callback-style library call `f`, as a promise. */
function call<T>(f: (cb: (error: Error | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((done, fail) => f((error, value) => (error !== null ? fail(error) : done(value as T))));
}

const partitionKey = (topic: string, partition: number): string => `${topic}\0${partition}`;

/** The parts of a produce request that are not the record batches, written into one small buffer as they come. */
class Framing {
  private buf = Buffer.allocUnsafe(256);
  private off = 0;
  constructor(
    private readonly writer: KafkaLibrary.Writer,
    private readonly flexible: boolean,
  ) {}
  private room(n: number): void {
    if (this.off + n > this.buf.length) {
      this.flush();
      if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
    }
  }
  /** Hands the framing written so far to the request, before a batch. */
  flush(): void {
    if (this.off > 0) this.writer.append(this.buf.subarray(0, this.off));
    this.buf = this.buf.subarray(this.off);
    this.off = 0;
    if (this.buf.length < 64) this.buf = Buffer.allocUnsafe(256);
  }
  int16(v: number): void {
    this.room(2);
    this.off = this.buf.writeInt16BE(v, this.off);
  }
  int32(v: number): void {
    this.room(4);
    this.off = this.buf.writeInt32BE(v, this.off);
  }
  uvarint(v: number): void {
    this.room(5);
    while (v >= 0x80) {
      this.buf[this.off++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.off++] = v;
  }
  /** An array's length: compact (n+1) when flexible. */
  count(n: number): void {
    if (this.flexible) this.uvarint(n + 1);
    else this.int32(n);
  }
  string(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    if (this.flexible) this.uvarint(n + 1);
    else this.int16(n);
    this.room(n);
    this.off += this.buf.write(s, this.off, n, 'utf8');
  }
  /** Empty tagged fields (flexible versions only). */
  tags(): void {
    if (this.flexible) this.uvarint(0);
  }
}

export class ProduceClient {
  /** The library's client: connections (TLS, SASL), metadata, API versions. */
  readonly base: Base;
  private session: Session | undefined;
  private sessionInit: Promise<Session> | undefined;
  private api: ProduceApi | undefined;
  /** Where a request's batches are written; free again once the connection has copied the request. */
  private readonly arena = new Arena();

  constructor(
    private readonly lib: Library,
    options: BaseOptions,
    private readonly codec: BatchCodec,
    private readonly timeoutMs: number,
  ) {
    // Metadata is kept for 5 minutes (the Java client's metadata.max.age.ms) and dropped at once when a produce fails;
    // two quick retries of a metadata call, then the failure goes to the sink runner's one backoff policy.
    this.base = new lib.Base({ ...options, retries: 2, retryDelay: 250, metadataMaxAge: 300_000 });
  }

  /** The partition counts and leaders of these topics (a topic the brokers may create is created by asking). */
  metadata(topics: readonly string[]): Promise<ClusterMetadata> {
    return this.base.metadata({ topics: [...topics], autocreateTopics: true });
  }

  private async produceApi(): Promise<ProduceApi> {
    if (this.api !== undefined) return this.api;
    const apis = await this.base.listApis();
    const produce = apis.find((a) => a.name === 'Produce');
    const version = Math.min(produce?.maxVersion ?? -1, 11);
    if (produce === undefined || version < 7 || version < produce.minVersion) {
      throw new this.lib.UnsupportedApiError(`the brokers do not take Produce v7-v11 (they take v${produce?.minVersion ?? '?'}-v${produce?.maxVersion ?? '?'}): Kafka 2.1 or later is needed`);
    }
    const parsers: Record<number, ResponseParser<unknown>> = {
      7: this.lib.produceV7.parseResponse,
      8: this.lib.produceV8.parseResponse,
      9: this.lib.produceV9.parseResponse,
      10: this.lib.produceV10.parseResponse,
      11: this.lib.produceV11.parseResponse,
    };
    const parse = parsers[version] as ResponseParser<unknown>;
    // The library's parser throws on any partition's error code; the answer of every partition is in the error.
    const whole: ResponseParser<unknown> = (correlationId, apiKey, apiVersion, reader) => {
      try {
        return parse(correlationId, apiKey, apiVersion, reader);
      } catch (err) {
        const response = (err as { response?: unknown }).response;
        if (response !== undefined) return response;
        throw err;
      }
    };
    this.api = { version, flexible: version >= 9, parse: whole };
    return this.api;
  }

  /** The current session, or a new one (InitProducerId) when there is none or it went stale; one call at a time. */
  private sessionNow(): Promise<Session> {
    if (this.session !== undefined && !this.session.stale) return Promise.resolve(this.session);
    this.sessionInit ??= (async () => {
      type Answer = { producerId: bigint; producerEpoch: number };
      const api = await call<KafkaLibrary.API<[string | null, number, bigint, number], Answer>>((cb) => this.base[this.lib.kGetApi]('InitProducerId', cb));
      // The library's quick retries (a broker just started answers COORDINATOR_LOAD_IN_PROGRESS for a moment).
      const answer = await call<Answer>((done) =>
        this.base[this.lib.kPerformWithRetry]<Answer>(
          'initProducerId',
          (retry) =>
            this.base[this.lib.kGetBootstrapConnection]((error, connection) => {
              if (error !== null || connection === undefined) retry(error ?? new Error('no connection'));
              else api(connection, null, this.timeoutMs, -1n, -1, retry);
            }),
          done as KafkaLibrary.CallbackWithPromise<Answer>,
        ),
      );
      const session: Session = { producerId: answer.producerId, producerEpoch: answer.producerEpoch, seqs: new Map(), stale: false };
      this.session = session;
      return session;
    })().finally(() => {
      this.sessionInit = undefined;
    });
    return this.sessionInit;
  }

  /**
   * Produces each item as one record batch, acks all, and says for each whether its partition leader acknowledged it.
   * Throws only when nothing could be sent (metadata, InitProducerId or the API versions failed).
   */
  async produce(items: readonly ProduceItem[], order?: ProduceOrder): Promise<ProduceResult[]> {
    try {
      return await this.produceNow(items, order);
    } finally {
      order?.stamped();
    }
  }

  private async produceNow(items: readonly ProduceItem[], order: ProduceOrder | undefined): Promise<ProduceResult[]> {
    const api = await this.produceApi();
    const topics = [...new Set(items.map((i) => i.topic))];
    for (let attempt = 0; ; attempt++) {
      const session = await this.sessionNow();
      const md = await this.metadata(topics);
      const results: ProduceResult[] = items.map(() => ({}));
      const byLeader = new Map<number, number[]>();
      items.forEach((item, i) => {
        const leader = md.topics.get(item.topic)?.partitions[item.partition]?.leader ?? -1;
        if (!md.brokers.has(leader)) {
          results[i] = { error: new this.lib.ProtocolError('LEADER_NOT_AVAILABLE', `no leader known for ${item.topic} partition ${item.partition}`) };
          this.base.clearMetadata();
          return;
        }
        const list = byLeader.get(leader);
        if (list === undefined) byLeader.set(leader, [i]);
        else list.push(i);
      });
      const connections = new Map<number, Connection | Error>();
      await Promise.all(
        [...byLeader.keys()].map(async (leader) => {
          const broker = md.brokers.get(leader);
          if (broker === undefined) return;
          const got = await call<Connection>((cb) => this.base[this.lib.kGetConnection](broker, cb)).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
          connections.set(leader, got);
        }),
      );
      await order?.turn;
      // Another send's failure made the session stale meanwhile: these batches take the new one.
      if ((this.session !== session || session.stale) && attempt < 3) continue;
      // From here to the last request handed to its connection nothing awaits: each partition's sequence numbers are
      // taken in the order its batches go out on the leader's connection (which writes requests in order).
      const answered: Array<Promise<void>> = [];
      for (const [leader, positions] of byLeader) {
        const connection = connections.get(leader);
        if (!(connection instanceof this.lib.Connection)) {
          const error = connection instanceof Error ? connection : new Error(`no connection to broker ${leader}`);
          for (const p of positions) results[p] = { error };
          this.failed(session);
          continue;
        }
        // A produce request takes one batch per partition: the n-th batch of each partition goes in the n-th request.
        const requests: number[][] = [];
        const nth = new Map<string, number>();
        for (const p of positions) {
          const item = items[p] as ProduceItem;
          const key = partitionKey(item.topic, item.partition);
          const n = nth.get(key) ?? 0;
          nth.set(key, n + 1);
          (requests[n] ??= []).push(p);
        }
        for (const positionsInRequest of requests) answered.push(this.request(connection, api, session, items, positionsInRequest, results));
      }
      order?.stamped();
      await Promise.all(answered);
      return results;
    }
  }

  /** The session can no longer be trusted for the sequence numbers the broker holds: the next batches take a new one. */
  private failed(session: Session): void {
    session.stale = true;
    this.base.clearMetadata();
  }

  /** Writes the batches of `positions` (one per partition) into one produce request on `connection`; settles with its answer. */
  private request(connection: Connection, api: ProduceApi, session: Session, items: readonly ProduceItem[], positions: readonly number[], results: ProduceResult[]): Promise<void> {
    // The previous request was copied by its connection when it was handed over (see below).
    this.arena.reset();
    const writer = this.lib.Writer.create();
    const f = new Framing(writer, api.flexible);
    if (api.flexible) f.uvarint(0);
    else f.int16(-1); // transactional_id: null
    f.int16(-1); // acks: all
    f.int32(this.timeoutMs);
    const byTopic = new Map<string, number[]>();
    for (const p of positions) {
      const t = (items[p] as ProduceItem).topic;
      const list = byTopic.get(t);
      if (list === undefined) byTopic.set(t, [p]);
      else list.push(p);
    }
    const timestamp = Date.now();
    f.count(byTopic.size);
    for (const [topic, inTopic] of byTopic) {
      f.string(topic);
      f.count(inTopic.length);
      for (const p of inTopic) {
        const item = items[p] as ProduceItem;
        const key = partitionKey(topic, item.partition);
        const baseSequence = session.seqs.get(key) ?? 0;
        const count = item.records.to - item.records.from;
        session.seqs.set(key, nextSequence(baseSequence, count));
        const batch = encodeBatch(item.records, { producerId: session.producerId, producerEpoch: session.producerEpoch, baseSequence, timestamp }, this.codec, this.arena);
        f.int32(item.partition);
        if (api.flexible) f.uvarint(batch.length + 1);
        else f.int32(batch.length);
        f.flush();
        writer.append(batch);
        f.tags();
      }
      f.tags();
    }
    f.tags();
    f.flush();
    return new Promise<void>((done) => {
      // The connection copies the request into one Buffer before send returns (its header, then these parts): the
      // arena is free again after it. (Were a version of the library to keep the parts instead, the tests with
      // several requests in flight would see the brokers refuse corrupt batches.)
      connection.send(0, api.version, () => writer, api.parse, api.flexible, api.flexible, (err, answer) => {
        if (err !== null) {
          for (const p of positions) results[p] = { error: err };
          this.failed(session);
          // A request past its timeout stays in the library's connection, whose late answer it cannot read: the
          // connection is closed (its other requests fail with it) and the next send opens a new one.
          if (err instanceof this.lib.TimeoutError) void connection.close().catch(() => undefined);
          done();
          return;
        }
        const byPartition = new Map<string, { errorCode: number; errorMessage: string | null }>();
        for (const t of (answer as ProduceAnswer).responses) for (const pr of t.partitionResponses) byPartition.set(partitionKey(t.name, pr.index), pr);
        for (const p of positions) {
          const item = items[p] as ProduceItem;
          const pr = byPartition.get(partitionKey(item.topic, item.partition));
          if (pr !== undefined && pr.errorCode === 0) continue;
          results[p] = { error: pr === undefined ? new Error(`the broker's answer left out ${item.topic} partition ${item.partition}`) : new this.lib.ProtocolError(pr.errorCode, pr.errorMessage) };
          if (session === this.session) this.failed(session);
        }
        done();
      });
    });
  }

  close(): Promise<void> {
    return this.base.close();
  }
}
