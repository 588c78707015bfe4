// The http sink's config keys: what every preset shares (URL, TLS, proxy, compression, timeout) and each preset's own.
import { z } from 'zod';
import { LOG_TYPES, STREAM_NAMES } from '../../core/contracts.js';
import { durationIn, httpUrl } from '../../config/common.js';
import { batchSchema, sinkCommon } from '../common.js';
import { tlsSchema } from '../tls.js';

const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'not a valid HTTP header name');

/** Keys of every preset. */
const httpCommon = {
  ...sinkCommon,
  type: z.literal('http'),
  /** The receiver's base URL (http or https), e.g. https://splunk.example:8088 or https://es.example:9200. */
  url: httpUrl,
  tls: tlsSchema.prefault({}),
  /**
   * A proxy for this sink's requests (`http://proxy:3128`, credentials allowed in the URL). Absent: HTTPS_PROXY /
   * HTTP_PROXY / NO_PROXY from the environment when set, else direct.
   */
  proxy_url: httpUrl.optional(),
  /** Request bodies compressed with gzip (`Content-Encoding: gzip`) or sent as is. Default gzip. */
  compression: z.enum(['gzip', 'none'], { error: 'expected gzip or none' }).default('gzip'),
  /** Longest time one request may take, sending to the last byte of the reply; past it the request is retried. 1s–10m, default 30s. */
  request_timeout: durationIn('1s', '10m').prefault('30s'),
  /**
   * Extra request headers. Their values are treated as secrets (masked by validate, redacted in logs); `headers_file`
   * names a file of `Name: value` lines read at start-up instead (or as well).
   */
  headers: z.record(headerName, z.string()).optional(),
};

/** Keys of the `splunk_hec` preset. */
export const splunkHecSchema = z.strictObject({
  ...httpCommon,
  preset: z.literal('splunk_hec'),
  /** The HEC token (prefer token_file or ${ENV}). */
  token: z.string({ error: 'the HEC token is required: set token_file (or token, e.g. ${HEC_TOKEN})' }).min(1),
  /** Index for every event; absent: the token's default index. */
  index: z.string().min(1).optional(),
  /** `source` of every event; default `mimecast:<account>`. */
  source: z.string().min(1).optional(),
  /** `host` of every event; absent: HEC sets the collector's address. */
  host: z.string().min(1).optional(),
  /**
   * `sourcetype` overrides by stream or SIEM log type (`receipt: my:receipt`, `audit: my:audit`); the rest keep the
   * documented defaults (docs/operations.md, "Splunk HEC").
   */
  sourcetypes: z
    .record(z.string(), z.string().min(1))
    .superRefine((m, ctx) => {
      for (const k of Object.keys(m)) {
        if ((STREAM_NAMES as readonly string[]).includes(k) || LOG_TYPES.includes(k)) continue;
        ctx.addIssue({ code: 'custom', path: [k], message: `"${k}" is neither a stream nor a log type (streams: ${STREAM_NAMES.join(', ')}; log types: ${LOG_TYPES.join(', ')})` });
      }
    })
    .optional(),
  /** Send account, stream and log_type as indexed fields (`fields`). Default true. */
  indexed_fields: z.boolean().default(true),
  /**
   * Indexer acknowledgement: a batch counts as delivered only once Splunk says it is indexed (the token must have
   * acknowledgement on). Default false.
   */
  ack: z.boolean().default(false),
  /** With ack: a batch not acknowledged this long after it was received is sent again (same event.ids). 10s–1h, default 5m. */
  ack_timeout: durationIn('10s', '1h').prefault('5m'),
  /** With ack: how often acknowledgements are asked for. 100ms–1m, default 1s. */
  ack_poll_interval: durationIn('100ms', '1m').prefault('1s'),
  /**
   * Requests in flight at once. 1–64, default 8 here: with indexer acknowledgement a send lasts until Splunk says it
   * indexed the events (a second or more), so one at a time would deliver one batch per ack round.
   */
  concurrency: z.number().int().min(1).max(64).default(8),
  /** Splunk Cloud takes at most ~1 MB per request: batches default to 1MB here. */
  batch: batchSchema.prefault({ max_bytes: '1MB' }),
});

/** The placeholders an Elasticsearch `index` template may hold, filled in per event. */
export const INDEX_PLACEHOLDERS = ['stream', 'log_type', 'account', 'namespace'] as const;

/** Characters Elasticsearch and OpenSearch refuse in an index name (`:` since ES 7; whitespace and controls too). */
// eslint-disable-next-line no-control-regex
export const INDEX_FORBIDDEN = /[\\/*?"<>|,#:\s\x00-\x1f]/;

/** Longest index name, in UTF-8 bytes. */
export const MAX_INDEX_BYTES = 255;

/**
 * What is wrong with an `index` template (undefined: nothing): an unknown `{placeholder}`, or literal text that
 * cannot be part of an index name. Values filled in are made safe when the name is built (elasticsearch.ts).
 */
export function indexTemplateProblem(template: string): string | undefined {
  const unknown = [...template.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1] ?? '').filter((p) => !(INDEX_PLACEHOLDERS as readonly string[]).includes(p));
  if (unknown.length > 0) {
    return `unknown placeholder {${unknown[0] ?? ''}} (expected ${INDEX_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')})`;
  }
  const literal = template.replace(/\{[^{}]*\}/g, '');
  if (/[{}]/.test(literal)) return 'unbalanced "{" or "}"';
  if (literal !== literal.toLowerCase()) return 'index names are lower-case';
  const bad = INDEX_FORBIDDEN.exec(literal);
  if (bad !== null) return `index names cannot contain ${JSON.stringify(bad[0])} (nor \\ / * ? " < > | , # : or spaces)`;
  if (/^[-_+]/.test(template)) return 'index names cannot start with "-", "_" or "+"';
  if (template === '.' || template === '..') return 'not a valid index name';
  if (Buffer.byteLength(literal) > MAX_INDEX_BYTES) return `index names are at most ${MAX_INDEX_BYTES} bytes`;
  return undefined;
}

/** Keys of the `elasticsearch` preset (Elasticsearch 8/9, OpenSearch 2/3). */
export const elasticsearchSchema = z
  .strictObject({
    ...httpCommon,
    preset: z.literal('elasticsearch'),
    /**
     * Where events go: a data stream or index name, with `{stream}`, `{log_type}`, `{account}` and `{namespace}`
     * filled in per event (values lower-cased, characters an index name cannot hold turned into `_`). Default
     * `logs-mimecast.{stream}-{namespace}`: one data stream per stream, in Elastic's `logs-<dataset>-<namespace>`
     * scheme (docs/operations.md, "Elasticsearch and OpenSearch", says how it relates to Elastic's Mimecast integration).
     */
    index: z
      .string()
      .min(1)
      .superRefine((t, ctx) => {
        const problem = indexTemplateProblem(t);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      })
      .default('logs-mimecast.{stream}-{namespace}'),
    /** `{namespace}` in `index`. Default `default`. */
    namespace: z
      .string()
      .regex(/^[a-z0-9_]+$/, 'use lower-case letters, digits or "_" (it becomes part of an index name)')
      .max(100)
      .default('default'),
    /** An ingest pipeline every document goes through (the `pipeline` parameter of `_bulk`). */
    pipeline: z.string().min(1).optional(),
    /** Basic authentication (with password / password_file). */
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    /**
     * An API key (`Authorization: ApiKey ...`): the base64 `encoded` value Elasticsearch returns, or `id:api_key`
     * (encoded here). Prefer api_key_file or ${ENV}.
     */
    api_key: z.string().min(1).optional(),
    /** A bearer token (`Authorization: Bearer ...`), e.g. an Elasticsearch service-account token. */
    token: z.string().min(1).optional(),
    /**
     * `_bulk` requests in flight at once. 1–64, default 4 here: one at a time leaves the engine idle while a batch is
     * built, compressed and answered (bench:sinks: 44.6k events/s at 1, 52.8k at 2, 60.8k at 4); an item the engine
     * turns away for load (429) is sent again on its own.
     */
    concurrency: z.number().int().min(1).max(64).default(4),
  })
  .superRefine((c, ctx) => {
    if (c.format === 'cef' || c.format === 'leef') {
      ctx.addIssue({ code: 'custom', path: ['format'], message: 'Elasticsearch takes JSON documents: use format ecs (default) or raw' });
    }
    const ways = [c.username !== undefined, c.api_key !== undefined, c.token !== undefined].filter(Boolean).length;
    if (ways > 1) ctx.addIssue({ code: 'custom', path: ['api_key'], message: 'use one way to authenticate: username/password, api_key or token' });
    if ((c.username === undefined) !== (c.password === undefined)) {
      ctx.addIssue({ code: 'custom', path: [c.username === undefined ? 'username' : 'password'], message: 'basic authentication needs both username and password' });
    }
  });

/** Keys of the `ndjson` preset: any HTTP endpoint that takes JSON lines (or a JSON array). */
export const ndjsonSchema = z.strictObject({
  ...httpCommon,
  preset: z.literal('ndjson'),
  /** `ndjson` (one document per line, the default) or `array` (one JSON array per request). */
  body: z.enum(['ndjson', 'array'], { error: 'expected ndjson or array' }).default('ndjson'),
  /** POST (default) or PUT. */
  method: z.enum(['POST', 'PUT'], { error: 'expected POST or PUT' }).default('POST'),
});

export const PRESETS = ['splunk_hec', 'elasticsearch', 'ndjson'] as const;

export const httpSinkSchema = z.discriminatedUnion('preset', [splunkHecSchema, elasticsearchSchema, ndjsonSchema], {
  error: `expected preset: ${PRESETS.join(', ')}`,
});

export type HttpSinkConfig = z.output<typeof httpSinkSchema>;
export type SplunkHecConfig = z.output<typeof splunkHecSchema>;
export type ElasticsearchConfig = z.output<typeof elasticsearchSchema>;
export type NdjsonConfig = z.output<typeof ndjsonSchema>;
