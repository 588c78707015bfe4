// An Elasticsearch-like `_bulk` fake for the faults a real engine will not produce on demand (tests and bench:sinks).
//
// Modelled (Elasticsearch 8 / OpenSearch 2 REST behaviour, from the bulk API docs):
// - `POST /_bulk` and `POST /<index>/_bulk` (also PUT): NDJSON action + source pairs, the body must end with `\n`
//   (else 400 `illegal_argument_exception`), `Content-Type` application/json or application/x-ndjson (else 406).
//   Actions `create` (409 `version_conflict_engine_exception` when the `_id` exists in that index), `index`
//   (creates or replaces: 201 `created` / 200 `updated`), `delete` (200 `deleted` / 404 `not_found`). No `_id` →
//   a generated one. The reply is 200 with `took`, `errors` and `items[i]` by position, each
//   `{<action>: {_index, _id, _version, result, _shards, _seq_no, _primary_term, status}}` or `{..., status, error:
//   {type, reason, ...}}`. A malformed action line or an unknown action fails the whole request with 400.
// - A source line that is not a JSON object: item 400 `document_parsing_exception` (ES >= 8.8; older ES and
//   OpenSearch say `mapper_parsing_exception`).
// - Data streams (index names matching `dataStreams`, default `logs-*-*` as ES's built-in template): only `create`
//   (else item 400 `illegal_argument_exception`), `@timestamp` required (else item 400, the parsing exception), and
//   `_index` in items is the backing index `.ds-<name>-<yyyy.MM.dd>-000001`.
// - `autoCreateIndex: false`: an item for an index that does not exist yet is 404 `index_not_found_exception`.
// - `filter_path` (comma-separated paths, `*` within a key name, `**` for any depth); arrays are transparent and
//   objects left empty are dropped, as ES does: `items.*.error` alone loses item positions, so a sink asks for
//   `errors,items.*.error,items.*.status`.
// - `Content-Encoding: gzip` bodies; `maxBodyBytes` on the wire → 413 with an empty body (ES's
//   `http.max_content_length`).
// - Auth when configured (`basic`, `apiKey`, `bearer`): 401 `security_exception` in ES's error shape
//   (`{error:{root_cause,type,reason,header},status}`) with `WWW-Authenticate`.
// - `GET /` (cluster info, `version.number`), `GET /_cluster/health`, `GET|POST /_count`, `/<index>/_count` (index
//   names, comma lists and `*` patterns), `POST /_refresh`, `/<index>/_refresh`; the document store is readable
//   (`docs`, `doc`, `count`).
// - Whole-request faults from a queue or a function: 429 `es_rejected_execution_exception`, 503, 413, any reply, a
//   delay, a dropped connection before reading or after indexing (the reply is lost). Per-item faults for the next
//   bulk request (by position) or from a function: 429 `es_rejected_execution_exception`, 400
//   `mapper_parsing_exception`, 404 `index_not_found_exception`, 503 `unavailable_shards_exception`, any status.
// - `stop()`/`start()`: an outage on the same port.
// Not modelled: `update` (whole request 400), mappings and field types, ingest pipelines (the `pipeline` parameter
// is recorded, not run), routing, versioning parameters, `refresh` semantics (documents are visible at once), search,
// `-` exclusions in `filter_path`, security privileges (403 only as a scripted fault), TLS.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { jsonReply, readBody, ReceiverServer, sleep, type Reply } from './receiver-server.js';

export type BulkAction = 'create' | 'index' | 'delete';

export interface StoredDoc {
  _id: string;
  _source: Record<string, unknown>;
  _version: number;
  _seq_no: number;
}

/** An item-level error as ES writes it in `items[i].<action>.error`. */
export interface EsError {
  type: string;
  reason: string;
  [extra: string]: unknown;
}

export type ItemFault =
  | { kind: 'rejected' }
  | { kind: 'mapping' }
  | { kind: 'index_not_found' }
  | { kind: 'unavailable' }
  | { kind: 'status'; status: number; error: EsError };

export interface ItemContext {
  /** 1-based number of the bulk request (every `_bulk` request counts, faulted ones too). */
  bulkNo: number;
  /** Position of the item in its request (0-based). */
  position: number;
  action: BulkAction;
  index: string;
  id: string | undefined;
  source: unknown;
}

export type BulkFault =
  | { kind: 'rejected' }
  | { kind: 'unavailable' }
  | { kind: 'too_large' }
  | { kind: 'delay'; ms: number }
  | { kind: 'drop'; when?: 'before_read' | 'after_index' }
  | { kind: 'reply'; status: number; body: unknown; headers?: Record<string, string> };

export interface BulkRequestRecord {
  requestNo: number;
  method: string;
  path: string;
  status: number;
  /** Items in a bulk request, and how many failed. */
  items: number;
  failed: number;
  filterPath: string | undefined;
  pipeline: string | undefined;
  wireBytes: number;
  gzip: boolean;
}

export interface BulkReceiverOptions {
  /** Credentials the fake accepts; none configured = security off. */
  auth?: { basic?: { username: string; password: string }; apiKey?: string; bearer?: string };
  /** Index name patterns (`*` wildcards) that are data streams. Default `['logs-*-*']`. */
  dataStreams?: readonly string[];
  /** Create a missing index on first write. Default true. */
  autoCreateIndex?: boolean;
  /** Request body limit on the wire, bytes. Default 100 MiB (ES's default). */
  maxBodyBytes?: number;
  /** What `GET /` reports. Default Elasticsearch 8.15.0. */
  distribution?: 'elasticsearch' | 'opensearch';
  /**
   * Benchmarks: source lines are not parsed (one not starting with `{` is refused as unparsable; the data-stream
   * `@timestamp` rule is a text search) and only ids are kept, so the figure measured is the sender's. Default false.
   */
  light?: boolean;
  version?: string;
  port?: number;
}

export interface BulkReceiver {
  readonly url: string;
  readonly port: number;
  readonly requests: readonly BulkRequestRecord[];
  /** Documents of an index or data stream, in insertion order. */
  docs(index: string): StoredDoc[];
  doc(index: string, id: string): StoredDoc | undefined;
  /** Documents in the indices matching a name, comma list or `*` pattern (all when omitted). */
  count(pattern?: string): number;
  indices(): string[];
  /** Bulk requests answered with a status (all bulk requests when omitted). */
  countBulk(status?: number): number;
  fault(...faults: BulkFault[]): void;
  setFaultFunction(fn: ((ctx: { requestNo: number; bulkNo: number }) => BulkFault | undefined) | undefined): void;
  /** Item faults for the NEXT bulk request, by position; each call scripts one more request. */
  itemFaults(byPosition: Record<number, ItemFault>): void;
  setItemFaultFunction(fn: ((ctx: ItemContext) => ItemFault | undefined) | undefined): void;
  /** Make an index exist (useful with `autoCreateIndex: false`). */
  createIndex(name: string): void;
  reset(): void;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** ES's top-level error body. */
export function esErrorBody(status: number, error: EsError, header?: Record<string, string[]>): unknown {
  const cause = header === undefined ? error : { ...error, header };
  return { error: { root_cause: [cause], ...cause }, status };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const globCache = new Map<string, RegExp>();

/** Compiled once per pattern: filter_path and data-stream patterns are matched for every key of every item. */
function globToRegExp(glob: string): RegExp {
  let re = globCache.get(glob);
  if (re === undefined) {
    re = new RegExp(`^${glob.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    if (globCache.size < 1_000) globCache.set(glob, re);
  }
  return re;
}

/** A bulk body's lines (the one after the last newline left out): the text of one, and a source line as a document. */
interface BulkLines {
  count: number;
  text(i: number): string;
  source(i: number): { source: unknown; sourceOk: boolean };
}

type LinesOrProblem = BulkLines | 'empty' | 'unterminated';

function textLines(text: string): LinesOrProblem {
  if (text.trim() === '') return 'empty';
  if (!text.endsWith('\n')) return 'unterminated';
  const lines = text.split('\n');
  lines.pop();
  return {
    count: lines.length,
    text: (i) => lines[i] ?? '',
    source: (i) => {
      let source: unknown;
      try {
        source = JSON.parse(lines[i] ?? '');
      } catch {
        source = undefined;
      }
      return { source, sourceOk: isRecord(source) };
    },
  };
}

const TIMESTAMP_KEY = Buffer.from('"@timestamp"');
/** What the light receiver keeps of every source that has a timestamp (one shared object: sources are not kept). */
const LIGHT_SOURCE: Readonly<Record<string, unknown>> = Object.freeze({ '@timestamp': true });

/**
 * The light receiver's lines, found on the bytes: action lines are decoded (they are small), source lines are not —
 * a source counts as a document when it starts with `{`, and carries `@timestamp` when that key appears in it.
 */
function byteLines(bytes: Buffer): LinesOrProblem {
  let blank = true;
  for (const b of bytes) {
    if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) {
      blank = false;
      break;
    }
  }
  if (blank) return 'empty';
  if (bytes[bytes.length - 1] !== 0x0a) return 'unterminated';
  const starts: number[] = [];
  const ends: number[] = [];
  for (let at = 0; at < bytes.length; ) {
    const nl = bytes.indexOf(0x0a, at);
    starts.push(at);
    ends.push(nl);
    at = nl + 1;
  }
  return {
    count: starts.length,
    text: (i) => bytes.toString('utf8', starts[i], ends[i]),
    source: (i) => {
      const start = starts[i] ?? 0;
      const ok = bytes[start] === 0x7b;
      const hasTimestamp = ok && bytes.subarray(start, ends[i]).includes(TIMESTAMP_KEY);
      return { source: hasTimestamp ? LIGHT_SOURCE : {}, sourceOk: ok };
    },
  };
}

/**
 * ES response filtering: keeps the values reached by any path; `*` matches within one key, `**` any depth; arrays
 * are transparent; objects and arrays left empty disappear.
 */
export function filterPath(value: unknown, filter: string): unknown {
  let trie = filterCache.get(filter);
  if (trie === undefined) {
    trie = compileFilter(
      filter
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p !== '')
        .map((p) => p.split('.')),
    );
    if (filterCache.size < 100) filterCache.set(filter, trie);
  }
  const out = applyFilter(value, trie);
  return out === undefined ? {} : out;
}

/**
 * A filter_path compiled into a trie: `end` keeps the whole value; each step matches one key by glob (`**` stays
 * on its own node and also hands the key to what follows it). Built once per filter, walked once per reply.
 */
interface FilterNode {
  end: boolean;
  steps: { glob: string; re: RegExp; node: FilterNode }[];
  /** The node after a `**` step at this level, reached at any depth. */
  deep?: FilterNode;
}

const filterCache = new Map<string, FilterNode>();

function compileFilter(paths: readonly string[][]): FilterNode {
  const root: FilterNode = { end: false, steps: [] };
  for (const path of paths) {
    let node = root;
    for (const part of path) {
      if (part === '**') {
        node.deep ??= { end: false, steps: [] };
        node = node.deep;
        continue;
      }
      let step = node.steps.find((x) => x.glob === part);
      if (step === undefined) {
        step = { glob: part, re: globToRegExp(part), node: { end: false, steps: [] } };
        node.steps.push(step);
      }
      node = step.node;
    }
    node.end = true;
  }
  return root;
}

/** The nodes a key leads to from `nodes` (a `**` node keeps matching below, and its next steps apply here too). */
function nextNodes(nodes: readonly FilterNode[], key: string): FilterNode[] {
  const out: FilterNode[] = [];
  for (const n of nodes) {
    for (const step of n.steps) if (step.re.test(key)) out.push(step.node);
    if (n.deep !== undefined) {
      out.push(n);
      for (const step of n.deep.steps) if (step.re.test(key)) out.push(step.node);
      if (n.deep.end) out.push(n.deep);
    }
  }
  return out;
}

function applyFilter(value: unknown, node: FilterNode): unknown {
  return applyNodes(value, [node]);
}

function applyNodes(value: unknown, nodes: readonly FilterNode[]): unknown {
  if (nodes.some((n) => n.end)) return value;
  if (Array.isArray(value)) {
    const kept: unknown[] = [];
    for (const v of value) {
      const x = applyNodes(v, nodes);
      if (x !== undefined) kept.push(x);
    }
    return kept.length === 0 ? undefined : kept;
  }
  if (!isRecord(value)) return undefined;
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const next = nextNodes(nodes, key);
    if (next.length === 0) continue;
    const kept = applyNodes(value[key], next);
    if (kept === undefined) continue;
    out ??= {};
    out[key] = kept;
  }
  return out;
}

function matchesAny(name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => globToRegExp(p).test(name));
}

const itemError = (type: string, reason: string, index: string): EsError => ({ type, reason, index_uuid: '_na_', index });

function itemFaultError(fault: ItemFault, index: string): { status: number; error: EsError } {
  switch (fault.kind) {
    case 'rejected':
      return { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'rejected execution of primary operation [coordinating_and_primary_bytes=0, max_coordinating_and_primary_bytes=0] (scripted)' } };
    case 'mapping':
      return { status: 400, error: { type: 'mapper_parsing_exception', reason: 'failed to parse field [scripted] of type [long] (scripted)' } };
    case 'index_not_found':
      return { status: 404, error: { ...itemError('index_not_found_exception', `no such index [${index}]`, index), 'resource.type': 'index_expression', 'resource.id': index } };
    case 'unavailable':
      return { status: 503, error: { type: 'unavailable_shards_exception', reason: `[${index}][0] primary shard is not active (scripted)` } };
    case 'status':
      return { status: fault.status, error: fault.error };
  }
}

/** Starts the fake on 127.0.0.1. */
export async function startBulkReceiver(opts: BulkReceiverOptions = {}): Promise<BulkReceiver> {
  const dataStreams = opts.dataStreams ?? ['logs-*-*'];
  const autoCreate = opts.autoCreateIndex ?? true;
  const light = opts.light ?? false;
  const maxBodyBytes = opts.maxBodyBytes ?? 100 * 1024 * 1024;
  const distribution = opts.distribution ?? 'elasticsearch';
  const version = opts.version ?? (distribution === 'opensearch' ? '2.17.0' : '8.15.0');
  const parsingType = parsingExceptionType(distribution, version);

  let store = new Map<string, Map<string, StoredDoc>>();
  let requests: BulkRequestRecord[] = [];
  let requestNo = 0;
  let bulkNo = 0;
  let seqNo = 0;
  const faults: BulkFault[] = [];
  let faultFn: ((ctx: { requestNo: number; bulkNo: number }) => BulkFault | undefined) | undefined;
  const itemFaultQueue: Record<number, ItemFault>[] = [];
  let itemFaultFn: ((ctx: ItemContext) => ItemFault | undefined) | undefined;

  const backingIndex = (name: string): string => {
    const d = new Date();
    const day = `${d.getUTCFullYear()}.${String(d.getUTCMonth() + 1).padStart(2, '0')}.${String(d.getUTCDate()).padStart(2, '0')}`;
    return `.ds-${name}-${day}-000001`;
  };

  const authFailure = (req: IncomingMessage, url: URL): Reply | undefined => {
    const auth = opts.auth;
    if (auth === undefined) return undefined;
    const challenge: string[] = [];
    if (auth.basic !== undefined) challenge.push('Basic realm="security", charset="UTF-8"');
    if (auth.bearer !== undefined) challenge.push('Bearer realm="security"');
    if (auth.apiKey !== undefined) challenge.push('ApiKey');
    const header = req.headers.authorization ?? '';
    const space = header.indexOf(' ');
    const scheme = space < 0 ? header : header.slice(0, space);
    const cred = space < 0 ? '' : header.slice(space + 1).trim();
    const target = `${url.pathname}${url.search}`;
    let reason: string | undefined = `missing authentication credentials for REST request [${target}]`;
    if (scheme.toLowerCase() === 'basic' && auth.basic !== undefined) {
      const [user = '', ...pass] = Buffer.from(cred, 'base64').toString('utf8').split(':');
      if (user === auth.basic.username && pass.join(':') === auth.basic.password) reason = undefined;
      else reason = `unable to authenticate user [${user}] for REST request [${target}]`;
    } else if (scheme.toLowerCase() === 'apikey' && auth.apiKey !== undefined) {
      reason = cred === auth.apiKey ? undefined : `unable to authenticate with provided credentials and anonymous access is not allowed for this request`;
    } else if (scheme.toLowerCase() === 'bearer' && auth.bearer !== undefined) {
      reason = cred === auth.bearer ? undefined : `unable to authenticate with provided credentials and anonymous access is not allowed for this request`;
    } else if (header !== '') {
      reason = `unable to authenticate with provided credentials and anonymous access is not allowed for this request`;
    }
    if (reason === undefined) return undefined;
    const header401 = { 'WWW-Authenticate': challenge };
    return jsonReply(401, esErrorBody(401, { type: 'security_exception', reason }, header401), { 'WWW-Authenticate': challenge.join(', ') });
  };

  const faultReply = (fault: BulkFault): Reply | undefined => {
    switch (fault.kind) {
      case 'rejected':
        return jsonReply(429, esErrorBody(429, { type: 'es_rejected_execution_exception', reason: 'rejected execution of coordinating operation (scripted)' }));
      case 'unavailable':
        return jsonReply(503, esErrorBody(503, { type: 'cluster_block_exception', reason: 'blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized]; (scripted)' }));
      case 'too_large':
        return { kind: 'reply', status: 413, body: '' };
      case 'reply':
        return jsonReply(fault.status, fault.body, fault.headers ?? {});
      default:
        return undefined;
    }
  };

  const resolveIndices = (pattern: string | undefined): string[] => {
    const names = [...store.keys()];
    if (pattern === undefined || pattern === '_all' || pattern === '*') return names;
    const out = new Set<string>();
    for (const part of pattern.split(',')) {
      if (part.includes('*')) for (const n of names.filter((n) => globToRegExp(part).test(n))) out.add(n);
      else if (store.has(part)) out.add(part);
      else throw new IndexMissing(part);
    }
    return [...out];
  };

  const handleBulk = (req: { bytes: Buffer; readonly text: string }, pathIndex: string | undefined, rec: BulkRequestRecord, no: number): Reply => {
    const lines = light ? byteLines(req.bytes) : textLines(req.text);
    if (lines === 'empty') {
      return jsonReply(400, esErrorBody(400, { type: 'action_request_validation_exception', reason: 'Validation Failed: 1: no requests added;' }));
    }
    if (lines === 'unterminated') {
      return jsonReply(400, esErrorBody(400, { type: 'illegal_argument_exception', reason: 'The bulk request must be terminated by a newline [\\n]' }));
    }
    type Op = { action: BulkAction; index: string; id: string | undefined; source: unknown; sourceOk: boolean };
    const ops: Op[] = [];
    for (let i = 0; i < lines.count; i++) {
      const line = lines.text(i);
      if (line.trim() === '') continue;
      let meta: unknown;
      try {
        meta = JSON.parse(line);
      } catch {
        return jsonReply(400, esErrorBody(400, { type: 'x_content_parse_exception', reason: `[${i + 1}:1] Malformed action/metadata line [${i + 1}]` }));
      }
      const keys = isRecord(meta) ? Object.keys(meta) : [];
      const action = keys[0];
      if (!isRecord(meta) || keys.length !== 1 || (action !== 'create' && action !== 'index' && action !== 'delete')) {
        return jsonReply(400, esErrorBody(400, { type: 'illegal_argument_exception', reason: `Malformed action/metadata line [${i + 1}], expected one of [create, delete, index, update] but found [${action ?? ''}]` }));
      }
      const m = meta[action];
      const params = isRecord(m) ? m : {};
      const index = typeof params['_index'] === 'string' ? params['_index'] : pathIndex;
      if (index === undefined) {
        return jsonReply(400, esErrorBody(400, { type: 'action_request_validation_exception', reason: `Validation Failed: 1: index is missing for request ${ops.length};` }));
      }
      const id = typeof params['_id'] === 'string' ? params['_id'] : undefined;
      if (action === 'delete') {
        ops.push({ action, index, id, source: undefined, sourceOk: true });
        continue;
      }
      if (++i >= lines.count) {
        return jsonReply(400, esErrorBody(400, { type: 'illegal_argument_exception', reason: `The bulk request must be terminated by a newline [\\n]` }));
      }
      const { source, sourceOk } = lines.source(i);
      ops.push({ action, index, id, source, sourceOk });
    }

    const scripted = itemFaultQueue.shift() ?? {};
    const items: unknown[] = [];
    let failed = 0;
    // Per index name, once per request: whether it is a data stream, and the index name replies show.
    const names = new Map<string, { isStream: boolean; shownIndex: string }>();
    ops.forEach((op, position) => {
      let name = names.get(op.index);
      if (name === undefined) {
        const stream = matchesAny(op.index, dataStreams);
        name = { isStream: stream, shownIndex: stream ? backingIndex(op.index) : op.index };
        names.set(op.index, name);
      }
      const { isStream, shownIndex } = name;
      const fail = (status: number, error: EsError): void => {
        failed++;
        items.push({ [op.action]: { _index: shownIndex, _id: op.id ?? null, status, error } });
      };
      const fault = scripted[position] ?? itemFaultFn?.({ bulkNo: no, position, action: op.action, index: op.index, id: op.id, source: op.source });
      if (fault !== undefined) {
        const { status, error } = itemFaultError(fault, op.index);
        return fail(status, error);
      }
      let docs = store.get(op.index);
      if (docs === undefined && !autoCreate) {
        return fail(404, { ...itemError('index_not_found_exception', `no such index [${op.index}]`, op.index), 'resource.type': 'index_expression', 'resource.id': op.index });
      }
      if (!op.sourceOk) {
        return fail(400, { type: parsingType, reason: '[1:1] failed to parse: the source is not a JSON object' });
      }
      if (isStream && op.action !== 'create') {
        return fail(400, { type: 'illegal_argument_exception', reason: `only write ops with an op_type of create are allowed in data streams` });
      }
      if (isStream && !(isRecord(op.source) && '@timestamp' in op.source)) {
        return fail(400, {
          type: parsingType,
          reason: '[1:1] failed to parse: data stream timestamp field [@timestamp] is missing',
          caused_by: { type: 'illegal_argument_exception', reason: 'data stream timestamp field [@timestamp] is missing' },
        });
      }
      if (docs === undefined) {
        docs = new Map();
        store.set(op.index, docs);
      }
      const id = op.id ?? randomBytes(15).toString('base64url');
      const existing = docs.get(id);
      const shards = { total: 2, successful: 1, failed: 0 };
      if (op.action === 'delete') {
        if (existing !== undefined) docs.delete(id);
        const ok = existing !== undefined;
        items.push({ delete: { _index: shownIndex, _id: id, _version: (existing?._version ?? 0) + 1, result: ok ? 'deleted' : 'not_found', _shards: shards, _seq_no: seqNo++, _primary_term: 1, status: ok ? 200 : 404 } });
        return;
      }
      if (op.action === 'create' && existing !== undefined) {
        return fail(409, {
          ...itemError('version_conflict_engine_exception', `[${id}]: version conflict, document already exists (current version [${existing._version}])`, shownIndex),
          shard: '0',
        });
      }
      const doc: StoredDoc = { _id: id, _source: op.source as Record<string, unknown>, _version: (existing?._version ?? 0) + 1, _seq_no: seqNo++ };
      docs.set(id, doc);
      const created = existing === undefined;
      items.push({ [op.action]: { _index: shownIndex, _id: id, _version: doc._version, result: created ? 'created' : 'updated', _shards: shards, _seq_no: doc._seq_no, _primary_term: 1, status: created ? 201 : 200 } });
    });
    rec.items = ops.length;
    rec.failed = failed;
    const body = { took: 1, errors: failed > 0, items };
    return jsonReply(200, rec.filterPath === undefined ? body : filterPath(body, rec.filterPath));
  };

  const handler = async (req: IncomingMessage, url: URL): Promise<Reply> => {
    const no = ++requestNo;
    const method = req.method ?? 'GET';
    const parts = url.pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);
    const isBulk = (method === 'POST' || method === 'PUT') && parts.length >= 1 && parts.length <= 2 && parts[parts.length - 1] === '_bulk';
    const rec: BulkRequestRecord = {
      requestNo: no,
      method,
      path: url.pathname,
      status: 0,
      items: 0,
      failed: 0,
      filterPath: url.searchParams.get('filter_path') ?? undefined,
      pipeline: url.searchParams.get('pipeline') ?? undefined,
      wireBytes: 0,
      gzip: (req.headers['content-encoding'] ?? '').toLowerCase() === 'gzip',
    };
    requests.push(rec);
    const thisBulk = isBulk ? ++bulkNo : 0;
    const fault = isBulk ? (faults.shift() ?? faultFn?.({ requestNo: no, bulkNo: thisBulk })) : undefined;
    if (fault?.kind === 'drop' && (fault.when ?? 'before_read') === 'before_read') return { kind: 'drop' };
    if (fault?.kind === 'delay') await sleep(fault.ms);
    const body = await readBody(req, maxBodyBytes);
    rec.wireBytes = body.wireBytes;
    const reply = await route(req, url, method, parts, thisBulk, fault, body, rec);
    if (reply.kind === 'reply') rec.status = reply.status;
    if (fault?.kind === 'drop') return { kind: 'drop' };
    return reply;
  };

  const route = async (
    req: IncomingMessage,
    url: URL,
    method: string,
    parts: string[],
    thisBulk: number,
    fault: BulkFault | undefined,
    body: Awaited<ReturnType<typeof readBody>>,
    rec: BulkRequestRecord,
  ): Promise<Reply> => {
    const faulted = fault === undefined ? undefined : faultReply(fault);
    if (faulted !== undefined) return faulted;
    if (body.kind === 'too_large') return { kind: 'reply', status: 413, body: '' };
    const denied = authFailure(req, url);
    if (denied !== undefined) return denied;
    if (body.kind === 'bad_encoding') {
      return jsonReply(400, esErrorBody(400, { type: 'illegal_argument_exception', reason: 'request body could not be decoded' }));
    }
    if (thisBulk > 0) {
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      if (type !== 'application/json' && type !== 'application/x-ndjson') {
        return jsonReply(406, { error: `Content-Type header [${req.headers['content-type'] ?? ''}] is not supported`, status: 406 });
      }
      return handleBulk(body, parts.length === 2 ? parts[0] : undefined, rec, thisBulk);
    }
    if (method === 'GET' && parts.length === 0) {
      const v: Record<string, unknown> = { number: version, build_flavor: 'default', lucene_version: '9.11.1', minimum_wire_compatibility_version: '7.17.0', minimum_index_compatibility_version: '7.0.0' };
      if (distribution === 'opensearch') v['distribution'] = 'opensearch';
      return jsonReply(200, { name: 'fake-node', cluster_name: 'testkit', cluster_uuid: 'testkit-cluster', version: v, tagline: distribution === 'opensearch' ? 'The OpenSearch Project: https://opensearch.org/' : 'You Know, for Search' });
    }
    if (method === 'GET' && parts[0] === '_cluster' && parts[1] === 'health') {
      return jsonReply(200, { cluster_name: 'testkit', status: 'green', timed_out: false, number_of_nodes: 1, number_of_data_nodes: 1, active_primary_shards: store.size, active_shards: store.size, relocating_shards: 0, initializing_shards: 0, unassigned_shards: 0 });
    }
    const last = parts[parts.length - 1];
    if ((last === '_count' || last === '_refresh') && parts.length <= 2 && (method === 'GET' || method === 'POST')) {
      let names: string[];
      try {
        names = resolveIndices(parts.length === 2 ? parts[0] : undefined);
      } catch (err) {
        if (!(err instanceof IndexMissing)) throw err;
        return jsonReply(404, esErrorBody(404, { ...itemError('index_not_found_exception', `no such index [${err.index}]`, err.index), 'resource.type': 'index_or_alias', 'resource.id': err.index }));
      }
      const shards = { total: names.length, successful: names.length, failed: 0 };
      if (last === '_refresh') return jsonReply(200, { _shards: shards });
      const count = names.reduce((n, name) => n + (store.get(name)?.size ?? 0), 0);
      return jsonReply(200, { count, _shards: { ...shards, skipped: 0 } });
    }
    return jsonReply(400, { error: `no handler found for uri [${url.pathname}] and method [${method}]` });
  };

  const server = new ReceiverServer(handler);
  await server.start(opts.port ?? 0);

  return {
    get url() {
      return server.url;
    },
    get port() {
      return server.port;
    },
    get requests() {
      return requests;
    },
    docs: (index) => [...(store.get(index)?.values() ?? [])],
    doc: (index, id) => store.get(index)?.get(id),
    count(pattern) {
      try {
        return resolveIndices(pattern).reduce((n, name) => n + (store.get(name)?.size ?? 0), 0);
      } catch {
        return 0;
      }
    },
    indices: () => [...store.keys()],
    countBulk: (status) => requests.filter((r) => r.path.endsWith('/_bulk') && (status === undefined || r.status === status)).length,
    fault: (...f) => void faults.push(...f),
    setFaultFunction(fn) {
      faultFn = fn;
    },
    itemFaults: (byPosition) => void itemFaultQueue.push(byPosition),
    setItemFaultFunction(fn) {
      itemFaultFn = fn;
    },
    createIndex(name) {
      if (!store.has(name)) store.set(name, new Map());
    },
    reset() {
      store = new Map();
      requests = [];
    },
    stop: () => server.stop(),
    start: () => server.start(),
    close: () => server.stop(),
  };
}

class IndexMissing extends Error {
  constructor(readonly index: string) {
    super(`no such index [${index}]`);
  }
}

/** ES 8.8 renamed the per-document parse failure; older ES and OpenSearch keep the old name. */
function parsingExceptionType(distribution: 'elasticsearch' | 'opensearch', version: string): string {
  if (distribution === 'opensearch') return 'mapper_parsing_exception';
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 8 || (major === 8 && minor >= 8) ? 'document_parsing_exception' : 'mapper_parsing_exception';
}
