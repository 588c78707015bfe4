// The `elasticsearch` preset (Elasticsearch 8/9, OpenSearch 2/3): `_bulk` creates with `_id = event.id`, an outcome
// per item read by position (409 on a resend = delivered), and the cluster's identity checked with `GET /`.
import { SinkError } from '../../core/errors.js';
import type { EventVerdict, OutEvent, SendResult, Sink } from '../../core/contracts.js';
import type { Logger } from '../../telemetry/logger.js';
import { PerRoute } from '../common.js';
import { excerpt, replyError, statusCode, type HttpReply, type HttpTarget } from './client.js';
import { INDEX_FORBIDDEN, MAX_INDEX_BYTES, type ElasticsearchConfig } from './config.js';

/**
 * The reply asked of `_bulk`: whether anything failed and each item's status and error. The status is asked for as
 * well as the error because filtering drops the objects it leaves empty: with `items.*.error` alone the successful
 * items vanish and the remaining ones no longer sit at their event's position.
 */
export const BULK_FILTER_PATH = 'errors,items.*.error,items.*.status';


/** A reply that says no item failed, recognised without parsing the items (`took` is there when filter_path was ignored). */
const ALL_OK = /^\s*\{\s*(?:"took"\s*:\s*\d+\s*,\s*)?"errors"\s*:\s*false\s*[,}]/;

/** An id that can go between JSON quotes as it is (no quote, backslash or control character). */
// eslint-disable-next-line no-control-regex
const PLAIN_ID = /^[^"\\\u0000-\u001f]*$/;

const ALL_FORBIDDEN = new RegExp(INDEX_FORBIDDEN.source, 'g');

/** A value for an index name: lower-case, every character an index name cannot hold turned into `_`. */
export function indexValue(value: string): string {
  return value.toLowerCase().replace(ALL_FORBIDDEN, '_');
}

/** What an index template is filled from. */
export interface IndexFields {
  readonly stream: string;
  readonly logType: string;
  readonly account: string;
}

/**
 * The index template with its placeholders filled in and made a valid index name: values sanitised (indexValue),
 * a `-`, `_` or `+` the name would start with dropped, cut to 255 bytes. `{log_type}` of an event journaled before
 * log types were kept is `unknown`.
 */
export function indexName(template: string, namespace: string, e: IndexFields): string {
  const filled = template.replace(/\{(stream|log_type|account|namespace)\}/g, (_m, key: string) => {
    switch (key) {
      case 'stream':
        return indexValue(e.stream);
      case 'log_type':
        return indexValue(e.logType === '' ? 'unknown' : e.logType);
      case 'account':
        return indexValue(e.account);
      default:
        return indexValue(namespace);
    }
  });
  let name = filled.replace(/^[-_+]+/, '');
  if (Buffer.byteLength(name) > MAX_INDEX_BYTES) {
    name = Buffer.from(name).subarray(0, MAX_INDEX_BYTES).toString('utf8').replace(/\uFFFD+$/, '');
  }
  return name === '' || name === '.' || name === '..' ? 'mimecast' : name;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** `type: reason` of an Elasticsearch error object, with its first cause (which often holds the real reason). */
export function errorText(error: unknown): string | undefined {
  if (typeof error === 'string') return error;
  if (!isRecord(error)) return undefined;
  const type = typeof error['type'] === 'string' ? error['type'] : undefined;
  const reason = typeof error['reason'] === 'string' ? error['reason'] : undefined;
  let text = [type, reason].filter((s) => s !== undefined).join(': ');
  const cause = error['caused_by'];
  if (isRecord(cause) && typeof cause['reason'] === 'string' && !text.includes(cause['reason'])) {
    text += ` (caused by ${typeof cause['type'] === 'string' ? `${cause['type']}: ` : ''}${cause['reason']})`;
  }
  return text === '' ? undefined : text;
}

/** The error text of a whole-request failure body (`{"error":{...},"status":N}`), if it has that shape. */
function replyErrorText(text: string): string | undefined {
  try {
    const body: unknown = JSON.parse(text);
    return isRecord(body) ? errorText(body['error']) : undefined;
  } catch {
    return undefined;
  }
}

export class ElasticsearchSink implements Sink {
  readonly name: string;
  private readonly bulkPath: string;
  private readonly rootPath: string;
  private readonly headers: Record<string, string>;
  /** The way this sink authenticates, for messages (never the secret). */
  private readonly authWay: string;
  /** Per account, stream and log type: the index and the action line up to the id's opening quote. */
  private readonly prefixes = new PerRoute((e) => {
    const index = indexName(this.cfg.index, this.cfg.namespace, e);
    return { index, prefix: `{"create":{"_index":${JSON.stringify(index)},"_id":"` };
  });

  constructor(
    private readonly cfg: ElasticsearchConfig,
    private readonly target: HttpTarget,
    private readonly log: Logger,
  ) {
    this.name = cfg.name;
    const base = target.base.pathname.replace(/\/+$/, '');
    this.rootPath = `${base}/`;
    this.bulkPath = `${base}/_bulk?filter_path=${BULK_FILTER_PATH}${cfg.pipeline === undefined ? '' : `&pipeline=${encodeURIComponent(cfg.pipeline)}`}`;
    this.headers = {};
    if (cfg.username !== undefined && cfg.password !== undefined) {
      this.headers['authorization'] = `Basic ${Buffer.from(`${cfg.username}:${cfg.password}`).toString('base64')}`;
      this.authWay = `username/password as ${cfg.username}`;
    } else if (cfg.api_key !== undefined) {
      // Kibana and the API show the key as `encoded` (base64 of id:key); an `id:key` pair is encoded here.
      const key = cfg.api_key.includes(':') ? Buffer.from(cfg.api_key).toString('base64') : cfg.api_key;
      this.headers['authorization'] = `ApiKey ${key}`;
      this.authWay = 'api_key';
    } else if (cfg.token !== undefined) {
      this.headers['authorization'] = `Bearer ${cfg.token}`;
      this.authWay = 'token (bearer)';
    } else {
      this.authWay = 'no credentials configured (username/password, api_key or token)';
    }
  }

  /** The action line's start for this event's index, built once per account, stream and log type. */
  private indexOf(e: OutEvent): { index: string; prefix: string } {
    return this.prefixes.of(e);
  }

  /**
   * The NDJSON body, in one buffer: per event its action line then its document bytes as they are (a copy, so no
   * journal buffer is held past the send), each line ending in `\n`.
   */
  private body(events: readonly OutEvent[]): Buffer {
    const lines: string[] = new Array<string>(events.length);
    let total = 0;
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as OutEvent;
      const id = PLAIN_ID.test(e.id) ? e.id : JSON.stringify(e.id).slice(1, -1);
      const line = `${this.indexOf(e).prefix}${id}"}}\n`;
      lines[i] = line;
      total += Buffer.byteLength(line) + e.size + 1;
    }
    const body = this.target.bodyBuffer(total);
    let at = 0;
    for (let i = 0; i < events.length; i++) {
      at += body.write(lines[i] as string, at, 'utf8');
      at += (events[i] as OutEvent).writeTo(body, at);
      body[at++] = 0x0a;
    }
    return body;
  }

  async send(events: readonly OutEvent[], signal: AbortSignal): Promise<SendResult | void> {
    if (events.length === 0) return;
    const reply = await this.target.call({
      method: 'POST',
      path: this.bulkPath,
      headers: { ...this.headers, 'content-type': 'application/x-ndjson' },
      body: this.body(events),
      gzip: this.cfg.compression === 'gzip',
      signal,
    });
    const what = this.target.describe('POST', this.bulkPath);
    if (reply.status < 200 || reply.status >= 300) throw this.requestError(what, reply);
    if (ALL_OK.test(reply.text)) return;
    return this.items(events, reply, what);
  }

  /** The per-item outcome of a 2xx bulk reply that may list failures. */
  private items(events: readonly OutEvent[], reply: HttpReply, what: string): SendResult | undefined {
    let body: unknown;
    try {
      body = JSON.parse(reply.text);
    } catch (err) {
      throw new SinkError('SINK_RETRYABLE', `sink ${this.name}: ${what} answered HTTP ${reply.status} with a reply that is not JSON: ${excerpt(reply.text)}`, this.name, { cause: err });
    }
    if (!isRecord(body)) throw new SinkError('SINK_RETRYABLE', `sink ${this.name}: ${what}: unexpected reply ${excerpt(reply.text)}`, this.name);
    if (body['errors'] === false) return undefined;
    const items = body['items'];
    if (!Array.isArray(items) || items.length !== events.length) {
      // Positions cannot be trusted: everything goes again (a resent document that is there already answers 409).
      throw new SinkError(
        'SINK_RETRYABLE',
        `sink ${this.name}: ${what}: the reply lists ${Array.isArray(items) ? items.length : 'no'} items for ${events.length} documents`,
        this.name,
      );
    }
    const retry: EventVerdict[] = [];
    const rejected: EventVerdict[] = [];
    const denied: string[] = [];
    const missing = new Set<string>();
    let notFound = 0;
    for (let index = 0; index < items.length; index++) {
      const item: unknown = items[index];
      const result = isRecord(item) ? Object.values(item)[0] : undefined;
      const status = isRecord(result) && typeof result['status'] === 'number' ? result['status'] : undefined;
      // 409 on create: a document with this _id is already there — this event, sent before (a resend).
      if (status !== undefined && ((status >= 200 && status < 300) || status === 409)) continue;
      const error = isRecord(result) ? result['error'] : undefined;
      if (status === undefined) {
        retry.push({ index, reason: 'the bulk reply gives this item no status' });
        continue;
      }
      const reason = excerpt(`${errorText(error) ?? 'no reason given'} (item status ${status})`);
      if (isRecord(error) && error['type'] === 'index_not_found_exception') {
        notFound++;
        missing.add(typeof error['index'] === 'string' ? error['index'] : this.indexOf(events[index] as OutEvent).index);
      }
      const code = statusCode(status);
      if (code === 'SINK_CONFIG') denied.push(reason);
      else if (code === 'SINK_RETRYABLE') retry.push({ index, reason });
      else rejected.push({ index, reason });
    }
    if (denied.length > 0) {
      throw new SinkError('SINK_CONFIG', `sink ${this.name}: ${what}: ${denied.length} of ${events.length} documents refused for lack of rights (${this.authWay}): ${denied[0] ?? ''}`, this.name);
    }
    if (notFound === events.length) {
      const names = [...missing].slice(0, 3).join(', ');
      throw new SinkError(
        'SINK_CONFIG',
        `sink ${this.name}: ${what}: index ${names} does not exist and the cluster does not create indices on write (action.auto_create_index): create it, or an index template matching it, or change index`,
        this.name,
        { details: { indices: [...missing] } },
      );
    }
    if (retry.length === 0 && rejected.length === 0) return undefined;
    return { ...(retry.length > 0 ? { retry } : {}), ...(rejected.length > 0 ? { rejected } : {}) };
  }

  /** A whole-request failure: 401/403 and 404 (not an Elasticsearch endpoint) stop the sink, the rest by the shared classification. */
  private requestError(what: string, reply: HttpReply): SinkError {
    const detail = replyErrorText(reply.text) ?? excerpt(reply.text);
    if (reply.status === 401 || reply.status === 403) {
      return replyError(this.name, what, reply, `${excerpt(detail)} (authenticating with ${this.authWay})`);
    }
    if (reply.status === 404) {
      return new SinkError(
        'SINK_CONFIG',
        `sink ${this.name}: ${what} answered HTTP 404${detail === '' ? '' : `: ${excerpt(detail)}`}: url does not lead to Elasticsearch or OpenSearch`,
        this.name,
        { details: { status: 404 } },
      );
    }
    return replyError(this.name, what, reply, excerpt(detail));
  }

  /** `GET /`: the cluster is there, takes the credentials, and is Elasticsearch or OpenSearch (logged with its version). */
  async check(signal: AbortSignal): Promise<void> {
    const what = this.target.describe('GET', this.rootPath);
    const reply = await this.target.call({ method: 'GET', path: this.rootPath, headers: this.headers, signal });
    if (reply.status === 403) {
      // Least-privilege credentials may write documents without the `monitor` privilege GET / needs: the first bulk
      // request tells whether they may write (a 403 there stops the sink).
      this.log.warn({ status: 403 }, `${what} answered HTTP 403: these credentials cannot read the cluster info (no monitor privilege); the version is not checked and the first bulk request will tell whether they may write`);
      return;
    }
    if (reply.status < 200 || reply.status >= 300) throw this.requestError(what, reply);
    let info: unknown;
    try {
      info = JSON.parse(reply.text);
    } catch {
      info = undefined;
    }
    const version = isRecord(info) && isRecord(info['version']) ? info['version'] : undefined;
    const number = typeof version?.['number'] === 'string' ? version['number'] : undefined;
    if (version === undefined || number === undefined) {
      throw new SinkError('SINK_CONFIG', `sink ${this.name}: ${what} answered HTTP ${reply.status} without a cluster version (${excerpt(reply.text)}): url does not lead to Elasticsearch or OpenSearch`, this.name);
    }
    const distribution = version['distribution'] === 'opensearch' ? 'opensearch' : 'elasticsearch';
    const major = Number(number.split('.')[0]);
    const cluster = isRecord(info) && typeof info['cluster_name'] === 'string' ? info['cluster_name'] : undefined;
    this.log.info({ distribution, version: number, cluster }, `receiver is ${distribution === 'opensearch' ? 'OpenSearch' : 'Elasticsearch'} ${number}`);
    const supported = distribution === 'opensearch' ? major >= 2 : major >= 8;
    if (!supported) {
      this.log.warn({ distribution, version: number }, 'this version is older than the ones this sink is built for (Elasticsearch 8/9, OpenSearch 2/3): data streams or error shapes may differ');
    }
  }

  /** True when `GET /` answers with a success, or a 403 (credentials that may write but not read the cluster info). */
  async probe(signal: AbortSignal): Promise<boolean> {
    try {
      const reply = await this.target.call({ method: 'GET', path: this.rootPath, headers: this.headers, signal });
      return (reply.status >= 200 && reply.status < 300) || reply.status === 403;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    return this.target.close();
  }
}
