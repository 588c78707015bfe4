// One HTTP request of an http sink: the shared client setup, gzip, a total deadline, a bounded reply, and every
// failure turned into a SinkError whose code says what the runner does next.
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { request, type Dispatcher } from 'undici';
import { SinkError, type SinkErrorCode } from '../../core/errors.js';
import { createHttpAgent, envProxyConfigured, proxyRefusalOf } from '../../core/http-agent.js';
import { errnoOf, loadTls, tlsProblemOf } from '../tls.js';
import { BufferPool } from '../buffer-pool.js';
import type { Logger } from '../../telemetry/logger.js';
import type { HttpSinkConfig } from './config.js';

const gzip = promisify(gzipCb);

/** Reply bytes kept at most (an Elasticsearch bulk reply asked for with filter_path stays far below). */
export const MAX_REPLY_BYTES = 16 * 1024 * 1024;
/** Of a failed reply, this much goes into messages and dead letters. */
export const REPLY_EXCERPT_BYTES = 1024;

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The reply body (cut at MAX_REPLY_BYTES). */
  text: string;
}

/** The seconds or HTTP date of a Retry-After header, as milliseconds from now (capped at an hour). */
export function retryAfterMs(headers: HttpReply['headers'], now = Date.now()): number | undefined {
  const raw = headers['retry-after'];
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (v === undefined || v.trim() === '') return undefined;
  const secs = Number(v);
  const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(v) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(0, ms), 3_600_000);
}

/** The first REPLY_EXCERPT_BYTES of a reply, on one line. */
export function excerpt(text: string): string {
  const cut = text.length > REPLY_EXCERPT_BYTES ? `${text.slice(0, REPLY_EXCERPT_BYTES)}…` : text;
  return cut.replace(/\s+/g, ' ').trim();
}

/** What the runner does with a reply status that is not a success, by the shared classification. */
export function statusCode(status: number): SinkErrorCode {
  if (status === 401 || status === 403) return 'SINK_CONFIG';
  if (status === 413) return 'SINK_TOO_LARGE';
  if (status === 408 || status === 429 || (status >= 500 && status !== 501)) return 'SINK_RETRYABLE';
  return 'SINK_PERMANENT';
}

export interface PostOptions {
  method?: 'POST' | 'PUT' | 'GET';
  /** Path and query appended to the sink's base URL. */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** gzip the body (when there is one). */
  gzip?: boolean;
  signal: AbortSignal;
}

/** Largest output chunk of the request-body gzip. */
const GZIP_CHUNK = 256 * 1024;

/**
 * The http sink's connection to its receiver: one keep-alive dispatcher (the shared setup: TLS, mutual TLS, proxy)
 * and `call`, which either returns the reply (any status) or throws a SinkError for a request that got none.
 */
export class HttpTarget {
  readonly base: URL;
  private readonly dispatcher: Dispatcher;
  private readonly timeoutMs: number;
  private readonly extraHeaders: Record<string, string>;
  /** Where the proxy comes from, for messages (undefined: direct). */
  private readonly proxyFrom: string | undefined;
  private closed = false;
  /**
   * Request bodies: a plain one goes back once gzip has read it, a sent one once the receiver answered it with a 2xx
   * (it read the whole body then; after another answer the connection may still be writing it, so that one is left
   * to V8). Two per send in flight (the plain and the compressed body), plus two.
   */
  private readonly bodies: BufferPool;

  constructor(
    private readonly cfg: HttpSinkConfig,
    private readonly log: Logger,
  ) {
    this.base = new URL(cfg.url);
    this.timeoutMs = cfg.request_timeout;
    this.bodies = new BufferPool(2 * cfg.concurrency + 2);
    this.extraHeaders = { ...(cfg.headers ?? {}) };
    const tls = loadTls(cfg.tls, cfg.name, log, this.base.origin);
    const proxy = cfg.proxy_url ?? (envProxyConfigured() ? 'env' : undefined);
    this.proxyFrom = proxy === undefined ? undefined : proxy === 'env' ? 'the proxy from HTTPS_PROXY / HTTP_PROXY' : 'the proxy in proxy_url';
    this.dispatcher = createHttpAgent({
      ...tls,
      headersTimeoutMs: cfg.request_timeout,
      bodyTimeoutMs: cfg.request_timeout,
      connections: Math.max(2, cfg.concurrency + 1),
      ...(proxy === undefined ? {} : { proxy }),
    });
  }

  /**
   * A buffer of `size` bytes for a request body, from the pool: `call` gives it back (once gzip read it, or once the
   * receiver answered), so the caller must not keep it past the call it passes it to.
   */
  bodyBuffer(size: number): Buffer {
    return this.bodies.take(size);
  }

  /** `METHOD path` for messages. */
  describe(method: string, path: string): string {
    return `${method} ${new URL(path, this.base).pathname}`;
  }

  async call(opts: PostOptions): Promise<HttpReply> {
    const method = opts.method ?? 'POST';
    const what = this.describe(method, opts.path);
    if (this.closed) throw new SinkError('SINK_RETRYABLE', `sink ${this.cfg.name}: ${what}: the sink is closed`, this.cfg.name);
    const url = new URL(opts.path, this.base);
    const headers: Record<string, string> = { ...this.extraHeaders, ...(opts.headers ?? {}) };
    let body = opts.body;
    if (body !== undefined && opts.gzip === true) {
      // On libuv's thread pool, off the thread that runs the journal and the other sinks; level 1: most of the
      // saving for a fraction of the CPU (JSON lines compress 5-10x at any level).
      const plain = body;
      let packed: Buffer;
      try {
        // Output chunks of up to GZIP_CHUNK: zlib hands each chunk back through the event loop, and at its default
        // 16 KB a batch of a few MB took hundreds of round trips (measured: a tenth of this thread's time).
        packed = await gzip(plain, { level: 1, chunkSize: Math.min(GZIP_CHUNK, Math.max(16 * 1024, plain.length)) });
      } finally {
        this.bodies.give(plain);
      }
      // Sent from a pooled copy: zlib's output chunk dies here, young, instead of living as long as the request.
      body = this.bodies.take(packed.length);
      packed.copy(body);
      headers['content-encoding'] = 'gzip';
    }
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const signal = AbortSignal.any([opts.signal, deadline]);
    try {
      const res = await request(url, { method, headers, dispatcher: this.dispatcher, signal, ...(body === undefined ? {} : { body }) });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (size >= MAX_REPLY_BYTES) continue;
        chunks.push(chunk);
        size += chunk.length;
      }
      if (body !== undefined && res.statusCode >= 200 && res.statusCode < 300) this.bodies.give(body);
      return { status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') };
    } catch (err) {
      if (opts.signal.aborted) throw err;
      throw this.failure(what, err, deadline.aborted);
    }
  }

  /** A request that got no reply, as the SinkError the runner acts on. */
  private failure(what: string, err: unknown, timedOut: boolean): SinkError {
    const name = this.cfg.name;
    if (timedOut) {
      return new SinkError('SINK_RETRYABLE', `sink ${name}: ${what}: no complete reply within request_timeout (${this.timeoutMs} ms)`, name, { cause: err, details: { timeout: true } });
    }
    const refused = proxyRefusalOf(err);
    if (refused !== undefined) return this.proxyFailure(what, err, refused);
    const tls = tlsProblemOf(err);
    if (tls?.kind === 'client_certificate') {
      return new SinkError('SINK_CONFIG', `sink ${name}: ${what}: TLS alert from the receiver (${tls.code}): ${tls.hint}`, name, { cause: err, details: { errno: tls.code } });
    }
    if (tls !== undefined) {
      return new SinkError('SINK_CONFIG', `sink ${name}: ${what}: TLS verification failed (${tls.code}): ${tls.hint}`, name, { cause: err, details: { errno: tls.code } });
    }
    const code = errnoOf(err);
    const message = err instanceof Error ? err.message : String(err);
    // Some receivers (node:https among them) refuse a client certificate by closing the connection, without an alert:
    // not told apart from a receiver that drops connections, so retried, but the likely cause is named.
    const bytesRead = (err as { socket?: { bytesRead?: unknown } } | undefined)?.socket?.bytesRead;
    const closedEarly = code === 'ECONNRESET' || (code === 'UND_ERR_SOCKET' && bytesRead === 0);
    const mtlsHint =
      closedEarly && this.base.protocol === 'https:' && this.cfg.tls.cert_file !== undefined
        ? ' (the receiver closed the TLS connection before any reply: if it demands client certificates, it may not accept the one in tls.cert_file)'
        : '';
    return new SinkError('SINK_RETRYABLE', `sink ${name}: ${what}: ${code === undefined ? message : `${code}: ${message}`}${mtlsHint}`, name, {
      cause: err,
      ...(code === undefined ? {} : { details: { errno: code } }),
    });
  }

  /** The proxy answered `status` instead of passing the request on. */
  private proxyFailure(what: string, err: unknown, status: number): SinkError {
    const name = this.cfg.name;
    const from = this.proxyFrom ?? 'the proxy';
    const key = this.cfg.proxy_url === undefined ? 'HTTPS_PROXY / HTTP_PROXY' : 'proxy_url';
    const details = { proxyStatus: status };
    if (status === 407) {
      return new SinkError('SINK_CONFIG', `sink ${name}: ${what}: ${from} answered 407 Proxy Authentication Required: check the user and password in ${key}`, name, { cause: err, details });
    }
    // A proxy that is busy or cannot reach the receiver right now: like the receiver's own 5xx/429.
    const code = statusCode(status) === 'SINK_RETRYABLE' ? 'SINK_RETRYABLE' : 'SINK_CONFIG';
    const why = code === 'SINK_RETRYABLE' ? 'will retry' : `it will not pass requests to ${this.base.host}: check ${key} and the proxy's rules`;
    return new SinkError(code, `sink ${name}: ${what}: ${from} answered HTTP ${status} instead of passing the request on (${why})`, name, { cause: err, details });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.dispatcher.close().catch(() => undefined);
  }
}

/**
 * The SinkError for a reply whose status says the request failed as a whole (statusCode's classification), with the
 * status and the first REPLY_EXCERPT_BYTES of the reply; Retry-After is honoured.
 */
export function replyError(sink: string, what: string, reply: HttpReply, detail?: string): SinkError {
  const code = statusCode(reply.status);
  const wait = retryAfterMs(reply.headers);
  const words = detail ?? excerpt(reply.text);
  return new SinkError(code, `sink ${sink}: ${what} answered HTTP ${reply.status}${words === '' ? '' : `: ${words}`}`, sink, {
    details: { status: reply.status },
    ...(wait === undefined ? {} : { retryAfterMs: wait }),
  });
}
