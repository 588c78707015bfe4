// The syslog sink: builds one message per event and sends it over UDP (fire-and-forget) or one persistent TCP/TLS
// connection (a batch counts as delivered once the socket took all of it and the connection stayed up settle_time).
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { EcsDocument, EventVerdict, OutEvent, SendResult, Sink } from '../../core/contracts.js';
import { describeError, SinkError } from '../../core/errors.js';
import { renderDocument } from '../../normalize/render.js';
import type { Logger } from '../../telemetry/logger.js';
import { PerRoute } from '../common.js';
import { loadTls, tlsProblemOf, type TlsConnectOptions } from '../tls.js';
import { BufferPool } from '../buffer-pool.js';
import { syslogSettings, type SyslogSettings, type SyslogSinkConfig } from './config.js';
import { endLine, headerLead, headerRoute, headerTail, headerToken, severityOfDocument, severityOfJson, syslogSeverity, utf8Prefix, type MessageOptions } from './format.js';

/** What the sink counted since it started (UDP cannot say more: nothing comes back). */
export interface SyslogCounters {
  /** Messages handed to the socket (datagrams on UDP). */
  sent: number;
  /** UDP messages cut to max_message_size. */
  truncated: number;
  /** TCP/TLS events not sent because their message was over max_message_size (dead-lettered). */
  oversized: number;
  /** Connections opened (TCP/TLS): more than one means the sink reconnected. */
  connects: number;
}

interface Built {
  /** Every frame, one after the other: what is written on a TCP/TLS connection. */
  data: Buffer;
  /** Where each message ends in `data` (numbers, not views: a batch's views would outlive V8's young generation). */
  ends: number[];
  /** Each message framed, as views of `data` (made on each call): one datagram each on UDP. */
  readonly frames: Buffer[];
  bytes: number;
  rejected: EventVerdict[];
  truncated: number;
  oversized: number;
}

const EMPTY = Buffer.alloc(0);

/** Longest wait, after a TLS 1.3 handshake, for the receiver to accept the client (its session ticket). */
const TLS13_ACCEPT_WAIT_MS = 1000;

/** A promise that settles on the first of `ms` passing (rejecting with `onTimeout()`), the signal, or itself. */
function bounded<T>(p: Promise<T>, ms: number, signal: AbortSignal, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref();
    const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    });
  });
}

export class SyslogSink implements Sink {
  readonly name: string;
  readonly counters: SyslogCounters = { sent: 0, truncated: 0, oversized: 0, connects: 0 };
  private readonly settings: SyslogSettings;
  private readonly msg: MessageOptions;
  private readonly target: string;
  private readonly tlsOptions: TlsConnectOptions | undefined;
  /** The open TCP/TLS connection, while it is usable. */
  private conn: Socket | undefined;
  private udp: UdpSocket | undefined;
  /** Sends one after the other on the one connection (the runner may have several in flight). */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** The error a connection failed with, for the send that finds it closed (a TLS alert arrives that way). */
  private readonly lastError = new WeakMap<Socket, Error>();
  /**
   * Per open connection, the batches settling on it, told why once it closes (one socket listener however many;
   * each removes itself when settled, so a connection that lives for days holds only what is settling).
   */
  private readonly onLost = new WeakMap<Socket, Set<(err: Error) => void>>();
  private readonly onAbort = new WeakMap<AbortSignal, Set<() => void>>();
  /** Batches written and settling: close() lets them settle before it closes the connection. */
  private readonly settling = new Set<Promise<void>>();
  /** The header's part every event of one account, stream and log type shares (headerRoute), as bytes. */
  private readonly routes: PerRoute<Buffer>;
  /**
   * The batches' buffers, given back once written: on TCP/TLS a batch is built in its turn on the connection (see
   * write), so the one being written and the one just built are all there is.
   */
  private readonly buffers = new BufferPool(2);

  constructor(
    private readonly cfg: SyslogSinkConfig,
    private readonly log: Logger,
  ) {
    this.name = cfg.name;
    this.settings = syslogSettings(cfg);
    this.target = `${cfg.transport}://${cfg.host}:${this.settings.port}`;
    this.msg = {
      rfc: cfg.rfc,
      facility: cfg.facility,
      hostname: cfg.hostname ?? headerToken(osHostname(), 255),
      appName: cfg.app_name,
      procId: String(process.pid),
      sdId: cfg.sd_id,
    };
    this.tlsOptions = cfg.transport === 'tls' ? loadTls(cfg.tls, cfg.name, log, this.target) : undefined;
    this.routes = new PerRoute((e) => Buffer.from(headerRoute(this.msg, e), 'utf8'));
  }

  /**
   * Messages for `events`, framed, as views of one buffer (written once: no buffer per message); an event over
   * max_message_size is rejected (TCP/TLS) or cut (UDP).
   */
  build(events: readonly OutEvent[]): Built {
    const max = this.settings.maxMessageSize;
    const framing = this.settings.framing;
    const out: Built = {
      data: EMPTY,
      ends: [],
      get frames(): Buffer[] {
        return this.ends.map((end, k) => this.data.subarray(k === 0 ? 0 : this.ends[k - 1], end));
      },
      bytes: 0,
      rejected: [],
      truncated: 0,
      oversized: 0,
    };
    // Per message, from a first pass that sizes them all: the octet count (when framed so) and the lead, the shared
    // route part, the tail, and the payload — a rendered line, or the event's own bytes written straight in.
    const firsts: string[] = [];
    const routes: Buffer[] = [];
    const tails: string[] = [];
    const rendered: (Buffer | undefined)[] = [];
    const payloadLens: number[] = [];
    const which: number[] = [];
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as OutEvent;
      let payload: Buffer | undefined;
      let severity: number;
      try {
        if (this.cfg.format === 'ecs') {
          // Journaled with the event; only events journaled before it was kept have their document read for it.
          severity = e.severity !== undefined ? syslogSeverity(e.severity) : severityOfJson(e.json);
        } else {
          const doc = JSON.parse(e.json) as EcsDocument;
          severity = severityOfDocument(doc);
          payload = Buffer.from(renderDocument(doc, this.cfg.format), 'utf8');
        }
      } catch (err) {
        out.rejected.push({ index: i, reason: `cannot render the event in this sink's format: ${describeError(err)}` });
        continue;
      }
      const lead = headerLead(this.msg, e.time, severity);
      const route = this.routes.of(e);
      const tail = headerTail(this.msg, e.id);
      // lead is ASCII (PRI digits, a time stamp that passed the RFC 3339 check or was made by toISOString).
      const headLen = lead.length + route.length + Buffer.byteLength(tail, 'utf8');
      let payloadLen = payload === undefined ? e.size : payload.length;
      if (headLen + payloadLen > max) {
        if (framing !== 'datagram') {
          out.oversized += 1;
          out.rejected.push({ index: i, reason: `syslog message of ${headLen + payloadLen} bytes is over max_message_size (${max} bytes): raise max_message_size (and the receiver's limit) to send it` });
          continue;
        }
        out.truncated += 1;
        payload ??= e.bytes;
        payloadLen = utf8Prefix(payload, Math.max(0, max - headLen));
      }
      const first = framing === 'octet_counting' ? `${headLen + payloadLen} ${lead}` : lead;
      firsts.push(first);
      routes.push(route);
      tails.push(tail);
      rendered.push(payload);
      payloadLens.push(payloadLen);
      which.push(i);
      out.bytes += first.length - lead.length + headLen + payloadLen + (framing === 'lf' ? 1 : 0);
    }
    const buf = this.buffers.take(out.bytes);
    let at = 0;
    for (let k = 0; k < firsts.length; k++) {
      const start = at;
      const first = firsts[k] as string;
      at += buf.write(first, at, 'latin1');
      const msgStart = framing === 'octet_counting' ? start + first.indexOf(' ') + 1 : start;
      at += (routes[k] as Buffer).copy(buf, at);
      const tail = tails[k] as string;
      if (tail !== '') at += buf.write(tail, at, 'utf8');
      const payload = rendered[k];
      const len = payloadLens[k] as number;
      if (payload !== undefined) at += payload.copy(buf, at, 0, len);
      else at += (events[which[k] as number] as OutEvent).writeTo(buf, at);
      if (framing === 'lf') at = endLine(buf, msgStart, at);
      out.ends.push(at);
    }
    out.data = buf;
    return out;
  }

  async send(events: readonly OutEvent[], signal: AbortSignal): Promise<SendResult | void> {
    if (this.closed) throw new SinkError('SINK_RETRYABLE', `sink ${this.name}: closed`, this.name);
    // Written by a call of its own, so nothing of the batch's messages is in this frame while it settles (32 batches
    // of MBs otherwise).
    const written = await this.write(events, signal);
    if (written.sock !== undefined) await this.settle(written.sock, written.messages, signal);
    return written.result;
  }

  /**
   * Builds and writes the batch; for TCP/TLS, the connection that took it, for settle(). On TCP/TLS the batch is built
   * in its turn on the connection, right before it is written: with many sends in flight, a batch built at launch
   * waited tens of milliseconds for the ones ahead of it (TLS: ~8 ms per 1,000-event write, ~75 ms of queue on
   * average in bench:sinks), so each held a new MB-sized buffer meanwhile, freed only by a full collection. Built in
   * turn, two buffers serve every batch.
   */
  private async write(events: readonly OutEvent[], signal: AbortSignal): Promise<{ result: SendResult | undefined; messages: number; sock?: Socket }> {
    if (this.cfg.transport === 'udp') return this.buildAndSend(events, signal);
    // Not the settling: the next batches are written while this one settles (settle() is outside the queue).
    return this.serial(() => this.buildAndSend(events, signal));
  }

  /** write's work: the batch built, then sent (UDP) or written on the connection (TCP/TLS, inside the queue). */
  private async buildAndSend(events: readonly OutEvent[], signal: AbortSignal): Promise<{ result: SendResult | undefined; messages: number; sock?: Socket }> {
    const built = this.buildReported(events);
    const result = built.rejected.length > 0 ? { rejected: built.rejected } : undefined;
    const messages = built.ends.length;
    if (messages === 0) {
      this.buffers.give(built.data);
      return { result, messages };
    }
    let sock: Socket | undefined;
    if (this.cfg.transport === 'udp') await this.sendUdp(built.frames, signal);
    else sock = await this.sendStream(built, signal);
    // Sent, or the socket called back for the write: done with the buffer (not so after a failure: left to V8).
    this.buffers.give(built.data);
    this.counters.sent += messages;
    return sock === undefined ? { result, messages } : { result, messages, sock };
  }

  /** The batch built, with a warning for what max_message_size cut or left out. */
  private buildReported(events: readonly OutEvent[]): Built {
    const built = this.build(events);
    if (built.truncated > 0) {
      this.counters.truncated += built.truncated;
      this.log.warn(
        { target: this.target, truncated: built.truncated, truncated_total: this.counters.truncated, max_message_size: this.settings.maxMessageSize },
        'UDP syslog messages over max_message_size were truncated (raise max_message_size if the receiver takes more, or use tcp/tls)',
      );
    }
    if (built.oversized > 0) {
      this.counters.oversized += built.oversized;
      this.log.warn(
        { target: this.target, events: built.oversized, oversized_total: this.counters.oversized, max_message_size: this.settings.maxMessageSize },
        'events whose syslog message is over max_message_size were not sent: dead-lettered with the reason',
      );
    }
    return built;
  }

  /**
   * Resolves once `sock` has stayed up for settle_time after a batch of `messages` was written on it; rejects
   * (retryable: the batch is sent again) when the connection breaks first, since the receiver may have dropped the
   * batch unread.
   */
  private async settle(sock: Socket, messages: number, signal: AbortSignal): Promise<void> {
    const ms = this.cfg.settle_time;
    if (ms <= 0) return;
    const watchers = this.onLost.get(sock);
    if (watchers === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    let onLost: ((err: Error) => void) | undefined;
    const waited = new Promise<void>((resolve, reject) => {
      onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      onLost = (err: Error): void =>
        reject(
          new SinkError(
            'SINK_RETRYABLE',
            `sink ${this.name}: the connection to ${this.target} broke within settle_time (${ms} ms) after ${messages} messages were written (${describeError(err)}): the receiver may not have read them, sending them again`,
            this.name,
            { cause: err },
          ),
        );
      if (signal.aborted) onAbort();
      else if (sock.destroyed) onLost(this.lastError.get(sock) ?? new Error('the connection was closed'));
      this.abortWatchers(signal).add(onAbort);
      watchers.add(onLost);
      timer = setTimeout(resolve, ms);
    });
    this.settling.add(waited);
    try {
      await waited;
    } finally {
      this.settling.delete(waited);
      clearTimeout(timer);
      if (onLost !== undefined) watchers.delete(onLost);
      if (onAbort !== undefined) this.abortWatchers(signal).delete(onAbort);
    }
  }

  /** The batches settling under `signal`, told when it aborts: one listener on the signal however many settle. */
  private abortWatchers(signal: AbortSignal): Set<() => void> {
    let set = this.onAbort.get(signal);
    if (set === undefined) {
      const watchers = new Set<() => void>();
      signal.addEventListener('abort', () => {
        for (const w of watchers) w();
      }, { once: true });
      this.onAbort.set(signal, watchers);
      set = watchers;
    }
    return set;
  }

  /** Runs `fn` after every send before it on the one connection has settled. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Writes the batch on the connection; resolves with the socket that took it. */
  private async sendStream(built: Built, signal: AbortSignal): Promise<Socket> {
    const sock = await this.connection(signal);
    const written = new Promise<void>((resolve, reject) => {
      const onClose = (): void => reject(this.lastError.get(sock) ?? new Error('the receiver closed the connection before the batch was written'));
      sock.once('close', onClose);
      sock.write(built.data, (err) => {
        sock.off('close', onClose);
        if (err !== undefined && err !== null) reject(err);
        // Node calls back without an error for a write cut short by a reset (the socket is destroyed by then): only
        // a socket still whole took the batch.
        else if (sock.destroyed || this.lastError.has(sock)) reject(this.lastError.get(sock) ?? new Error('the connection was closed while the batch was written'));
        else resolve();
      });
    });
    try {
      await bounded(written, this.cfg.write_timeout, signal, () => new Error(`writing ${built.ends.length} messages took longer than write_timeout (${this.cfg.write_timeout} ms)`));
    } catch (err) {
      this.drop(sock);
      if (signal.aborted) throw err;
      throw this.failure(err, 'sending to');
    }
    return sock;
  }

  /** The open connection, or a new one (TCP connect, and the TLS handshake on tls). */
  private async connection(signal: AbortSignal): Promise<Socket> {
    const cur = this.conn;
    if (cur !== undefined && !cur.destroyed && cur.writable) return cur;
    if (cur !== undefined) this.drop(cur);
    const sock = await this.open(signal);
    this.conn = sock;
    return sock;
  }

  private async open(signal: AbortSignal): Promise<Socket> {
    const { host } = this.cfg;
    const port = this.settings.port;
    let sock: Socket;
    let ready: string;
    if (this.cfg.transport === 'tls') {
      const opts = this.tlsOptions ?? { rejectUnauthorized: true };
      const servername = opts.servername ?? (isIP(host) === 0 ? host : undefined);
      sock = tlsConnect({ host, port, ...opts, ...(servername === undefined ? {} : { servername }) }) as TLSSocket;
      ready = 'secureConnect';
    } else {
      sock = netConnect({ host, port });
      ready = 'connect';
    }
    const onError = (err: Error): void => {
      this.lastError.set(sock, err);
      this.log.debug({ target: this.target, err: describeError(err) }, 'syslog connection failed');
      this.drop(sock);
    };
    sock.on('error', onError);
    // The receiver sends nothing back; what it does send (a TLS alert, its close) is read so it is seen at once.
    sock.on('data', () => undefined);
    let onOpenClose: (() => void) | undefined;
    let handshaken = false;
    const opened = new Promise<void>((resolve, reject) => {
      sock.once(ready, () => {
        handshaken = true;
        const tls = sock as TLSSocket;
        if (this.cfg.transport !== 'tls' || tls.getProtocol() !== 'TLSv1.3') {
          resolve();
          return;
        }
        // TLS 1.3 finishes the client's handshake before the receiver has looked at the client certificate: its
        // refusal comes as an alert just after. Wait for the session ticket that follows an acceptance (or for a
        // short while, for receivers that send none) so a refusal fails this connect, not a batch written meanwhile.
        const t = setTimeout(resolve, Math.min(TLS13_ACCEPT_WAIT_MS, this.cfg.connect_timeout));
        t.unref();
        tls.once('session', () => {
          clearTimeout(t);
          // Not in the same turn: a write made while Node is still handling the ticket reaches the receiver as a
          // corrupt record ("bad record mac", seen with Node 20).
          setImmediate(resolve);
        });
      });
      onOpenClose = (): void =>
        reject(
          this.lastError.get(sock) ??
            new Error(handshaken ? 'the receiver closed the connection right after the TLS handshake (does it refuse the client certificate, tls.cert_file?)' : 'connection closed while opening'),
        );
      sock.once('close', onOpenClose);
    });
    try {
      await bounded(opened, this.cfg.connect_timeout, signal, () => new Error(`no connection within connect_timeout (${this.cfg.connect_timeout} ms)`));
    } catch (err) {
      sock.destroy();
      if (signal.aborted) throw err;
      throw this.failure(err, 'connecting to');
    } finally {
      if (onOpenClose !== undefined) sock.off('close', onOpenClose);
    }
    sock.setNoDelay(true);
    sock.setKeepAlive(true, 60_000);
    sock.on('end', () => this.drop(sock));
    const watchers = new Set<(err: Error) => void>();
    this.onLost.set(sock, watchers);
    sock.once('close', () => {
      const why = this.lastError.get(sock) ?? new Error('the connection was closed');
      for (const w of watchers) w(why);
    });
    this.counters.connects += 1;
    if (this.counters.connects > 1) this.log.info({ target: this.target }, 'syslog connection open again');
    return sock;
  }

  private drop(sock: Socket): void {
    if (this.conn === sock) this.conn = undefined;
    sock.destroy();
  }

  /** A failed connect or write as a SinkError: a TLS problem the operator must fix is SINK_CONFIG, the rest retried. */
  private failure(err: unknown, what: string): SinkError {
    const tls = tlsProblemOf(err);
    if (tls !== undefined) {
      return new SinkError('SINK_CONFIG', `sink ${this.name}: TLS to ${this.cfg.host}:${this.settings.port} failed: ${tls.hint} (${tls.code})`, this.name, { cause: err });
    }
    return new SinkError('SINK_RETRYABLE', `sink ${this.name}: ${what} ${this.target} failed: ${describeError(err)}`, this.name, { cause: err });
  }

  private async sendUdp(frames: Buffer[], signal: AbortSignal): Promise<void> {
    if (this.udp === undefined) {
      const family = isIP(this.cfg.host) === 6 ? 'udp6' : 'udp4';
      const udp = createSocket(family);
      udp.on('error', (err) => this.log.debug({ target: this.target, err: describeError(err) }, 'syslog UDP socket error'));
      udp.unref();
      this.udp = udp;
    }
    const udp = this.udp;
    const port = this.settings.port;
    const all = frames.map(
      (f) =>
        new Promise<void>((resolve, reject) => {
          udp.send(f, port, this.cfg.host, (err) => (err === null || err === undefined ? resolve() : reject(err)));
        }),
    );
    try {
      await bounded(Promise.all(all), this.cfg.write_timeout, signal, () => new Error(`sending ${frames.length} datagrams took longer than write_timeout`));
    } catch (err) {
      if (signal.aborted) throw err;
      throw this.failure(err, 'sending to');
    }
  }

  async check(signal: AbortSignal): Promise<void> {
    if (this.cfg.transport === 'udp') {
      // Nothing answers on UDP: the most that can be checked is that the host name resolves.
      try {
        await lookup(this.cfg.host);
      } catch (err) {
        throw new SinkError('SINK_RETRYABLE', `sink ${this.name}: cannot resolve host ${this.cfg.host}: ${describeError(err)}`, this.name, { cause: err });
      }
      return;
    }
    await this.serial(() => this.connection(signal));
  }

  async probe(signal: AbortSignal): Promise<boolean> {
    if (this.cfg.transport === 'udp') return true;
    try {
      await this.serial(() => this.connection(signal));
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await Promise.allSettled([...this.settling]);
    const sock = this.conn;
    this.conn = undefined;
    if (sock !== undefined) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          sock.destroy();
          resolve();
        }, 2000);
        t.unref();
        sock.end(() => {
          clearTimeout(t);
          sock.destroy();
          resolve();
        });
      });
    }
    this.udp?.close();
    this.udp = undefined;
  }
}
