// Turns one SIEM API 2.0 record (a batch-file or stream line) into an ECS output event.
import { isCiType, siemTypeFromApi, type EcsDocument, type NormalizedEvent } from '../../core/contracts.js';
import { CollectorError } from '../../core/errors.js';
import { Related, asBool, asInt, asIp, asString, canonicalJson, idFromCanonical, hasKeys, put } from '../../normalize/ecs.js';
import { attachmentList, emailParties, putEmailParties } from '../../normalize/email.js';
import { finishEvent, jsonObjectOf, stampOf } from '../../normalize/fields.js';
import { parseTime } from '../../normalize/time.js';

const STREAM = 'siem';
const DATASET = 'mimecast.siem';

// Mimecast's short action codes, spelled out for `event.action` (the code itself stays in mimecast.action).
// Maps, not object literals, so a value such as "constructor" cannot hit Object.prototype.
export const ACTION_WORDS: ReadonlyMap<string, string> = new Map([
  ['acc', 'accept'],
  ['rej', 'reject'],
  ['ign', 'ignore'],
  ['bnc', 'bounce'],
  ['hld', 'hold'],
  ['sdbx', 'sandbox'],
  ['rty', 'retry'],
]);
export const ACTION_OUTCOMES: ReadonlyMap<string, 'success' | 'failure'> = new Map([
  ['accept', 'success'],
  ['reject', 'failure'],
  ['bounce', 'failure'],
]);
const DIRECTIONS: ReadonlySet<string> = new Set(['inbound', 'outbound', 'internal']);

const NON_WORD = /[^a-z0-9]+/g;
const EDGE_UNDERSCORES = /^_+|_+$/g;
const HAS_SPACE_OR_COLON = /[\s:]/;
const TLS_VERSION = /^(tls|ssl)\s*v?\s*(\d+(?:\.\d+)?)$/i;

/**
 * ECS `tls.version` and `tls.version_protocol` from Mimecast's text (`TLSv1.2`, `TLSv1`, `SSLv3`): the version always
 * with its minor part (`TLSv1` is `1.0`, as Elastic writes it), the protocol in lower case. Both written into `tls`.
 */
export function putTlsVersion(tls: Record<string, unknown>, text: string | undefined): void {
  const m = text === undefined ? null : TLS_VERSION.exec(text);
  if (m === null) return;
  const v = m[2] as string;
  tls['version'] = v.includes('.') ? v : `${v}.0`;
  tls['version_protocol'] = (m[1] as string).toLowerCase();
}

/** `mimecast.log_type`: the known snake_case name, or the unknown API type made snake_case. */
function logTypeOf(type: unknown): string {
  if (typeof type !== 'string') return 'unknown';
  const known = siemTypeFromApi(type);
  if (known !== undefined) return known;
  const lower = type.trim().toLowerCase();
  if (isCiType(lower)) return lower;
  const cleaned = lower.replace(NON_WORD, '_').replace(EDGE_UNDERSCORES, '');
  return cleaned.length > 0 ? cleaned : 'unknown';
}

function fail(message: string, logType?: string): CollectorError {
  return new CollectorError('NORMALIZE_FAILED', message, { details: logType === undefined ? { stream: STREAM } : { stream: STREAM, logType } });
}

/** Direction from `direction`, else from `route` when that names one ("Office365" routes do not). */
function directionOf(r: Record<string, unknown>): string | undefined {
  const d = asString(r['direction']);
  if (d !== undefined) {
    const lower = d.toLowerCase();
    return DIRECTIONS.has(lower) ? lower : 'unknown';
  }
  const route = asString(r['route'])?.toLowerCase();
  return route !== undefined && DIRECTIONS.has(route) ? route : undefined;
}

function extensionOf(name: string): string | undefined {
  const dot = name.lastIndexOf('.');
  return dot > 0 && dot < name.length - 1 ? name.slice(dot + 1).toLowerCase() : undefined;
}

/** Cloud Integrated `policiesApplied: [{action, mode, name}]`: the policy names, comma-separated. */
function policyNames(v: unknown): string | undefined {
  if (!Array.isArray(v)) return undefined;
  const names: string[] = [];
  for (const p of v) {
    const n = p !== null && typeof p === 'object' ? asString((p as Record<string, unknown>)['name']) : undefined;
    if (n !== undefined && !names.includes(n)) names.push(n);
  }
  return names.length > 0 ? names.join(', ') : undefined;
}

/** An ECS `file` object from the record's own file keys, or undefined when it has none. */
function fileOf(r: Record<string, unknown>): Record<string, unknown> | undefined {
  const file: Record<string, unknown> = {};
  const name = asString(r['fileName']);
  put(file, 'name', name);
  put(file, 'extension', asString(r['fileExtension'])?.toLowerCase() ?? (name === undefined ? undefined : extensionOf(name)));
  put(file, 'mime_type', asString(r['fileMime']) ?? asString(r['fileType']));
  put(file, 'size', asInt(r['sizeAttachment']) ?? asInt(r['fileSize']));
  const hash: Record<string, unknown> = {};
  put(hash, 'md5', asString(r['md5']));
  put(hash, 'sha1', asString(r['sha1']));
  put(hash, 'sha256', asString(r['sha256']));
  if (hasKeys(hash)) file['hash'] = hash;
  return hasKeys(file) ? file : undefined;
}

function tlsOf(r: Record<string, unknown>): Record<string, unknown> {
  const tls: Record<string, unknown> = {};
  putTlsVersion(tls, asString(r['tlsVersion']));
  put(tls, 'cipher', asString(r['tlsCipher']));
  put(tls, 'established', asBool(r['tlsUsed']));
  return tls;
}

interface Categorization {
  category: string[];
  type: string[];
}

/**
 * ECS `event.category` and `event.type` of a SIEM log type (shared by the 1.0 and 2.0 normalizers). `threat`: a
 * Cloud Integrated record names a detection (threatType other than NO_DETECTIONS).
 */
export function siemCategories(logType: string, virusFound: boolean, action: string | undefined, threat = false): Categorization {
  switch (logType) {
    case 'entities':
      return threat ? { category: ['email', 'threat'], type: ['indicator', 'info'] } : { category: ['email'], type: ['info'] };
    case 'urlclick': {
      const type = ['access'];
      if (action === 'allow') type.push('allowed');
      else if (action === 'block') type.push('denied');
      return { category: ['email', 'web'], type };
    }
    case 'receipt': {
      const category = ['email', 'network'];
      if (virusFound) category.push('malware');
      const type = ['connection', 'info'];
      if (action === 'accept') type.push('allowed');
      else if (action === 'reject' || action === 'bounce') type.push('denied');
      return { category, type };
    }
    case 'delivery':
      return { category: ['email', 'network'], type: ['connection', 'info'] };
    case 'av':
      return { category: ['email', 'malware', 'file'], type: ['info'] };
    case 'attachment_protect':
      return { category: ['email', 'file'], type: ['info'] };
    case 'internal_email_protect':
    case 'impersonation_protect':
      return { category: ['email', 'threat'], type: ['indicator', 'info'] };
    case 'url_protect':
      return { category: ['email', 'threat', 'web'], type: ['indicator', 'info'] };
    default:
      return { category: ['email'], type: ['info'] };
  }
}

/** `event.action` and `event.outcome` where the record says them. */
function actionOf(logType: string, r: Record<string, unknown>): { action?: string; outcome?: 'success' | 'failure' } {
  if (logType === 'delivery') {
    const delivered = asBool(r['delivered']);
    if (delivered === undefined) return {};
    return delivered ? { action: 'delivered', outcome: 'success' } : { action: 'not_delivered', outcome: 'failure' };
  }
  // Cloud Integrated message summaries say what happened to the message in threatState (e.g. DELIVERED, QUARANTINED).
  const raw = asString(r['action']) ?? (logType === 'entities' ? asString(r['threatState']) : undefined);
  if (raw === undefined) return {};
  const lower = raw.toLowerCase();
  const action = ACTION_WORDS.get(lower) ?? lower;
  const outcome = logType === 'receipt' || logType === 'process' ? ACTION_OUTCOMES.get(action) : undefined;
  return outcome === undefined ? { action } : { action, outcome };
}

function urlOf(v: unknown): Record<string, unknown> | undefined {
  const original = asString(v);
  if (original === undefined) return undefined;
  // `full` too: what Elastic's integration and other collectors fill, the URL as it was seen.
  const url: Record<string, unknown> = { original, full: original };
  // Only pay for URL parsing when it can succeed; scheme-less "www.x.example/path" still names a host.
  const withScheme = original.includes('://') ? original : HAS_SPACE_OR_COLON.test(original) ? undefined : `http://${original}`;
  if (withScheme !== undefined) {
    try {
      const host = new URL(withScheme).hostname;
      if (host.length > 0) url['domain'] = host.startsWith('[') ? host.slice(1, -1) : host;
    } catch {
      // Not parseable: url.original alone still says what was clicked.
    }
  }
  return url;
}

/**
 * Normalizes one SIEM API 2.0 record. Throws `CollectorError('NORMALIZE_FAILED')` when the record
 * is not an object; the caller quarantines it. A record without a usable timestamp is kept, stamped with the
 * collection time and tagged (stampOf).
 * Every original key is kept unchanged under `mimecast.*`.
 */
export function normalizeSiemV2(record: unknown, ctx: { account: string }): NormalizedEvent {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw fail(`SIEM record is not a JSON object (got ${record === null ? 'null' : Array.isArray(record) ? 'an array' : typeof record})`);
  }
  const r = record as Record<string, unknown>;
  if (Object.keys(r).length === 0) throw fail('SIEM record is an empty JSON object');
  const logType = logTypeOf(r['type']);
  const at = parseTime(r['timestamp']);
  const { time, missing } = stampOf(at);
  // The canonical text serves twice: it is hashed for the id and embedded as mimecast.* in the output.
  const canonical = canonicalJson(r);
  const id = idFromCanonical(ctx.account, STREAM, canonical);
  const related = new Related();

  const { action, outcome } = actionOf(logType, r);
  const threatType = asString(r['threatType']);
  const threat = threatType !== undefined && threatType.toUpperCase() !== 'NO_DETECTIONS';
  const { category, type } = siemCategories(logType, asString(r['virusFound']) !== undefined, action, threat);
  const event: Record<string, unknown> = { id, module: 'mimecast', dataset: DATASET, kind: 'event', category, type };
  put(event, 'action', action);
  put(event, 'outcome', outcome);
  put(
    event,
    'reason',
    asString(r['rejectionInfo']) ??
      asString(r['holdReason']) ??
      asString(r['blockReason']) ??
      asString(r['scanResults']) ??
      asString(r['virusFound']) ??
      asString(r['rejectionType']) ??
      (threat ? threatType : undefined),
  );

  const email: Record<string, unknown> = {};
  putEmailParties(email, related, emailParties(r));
  put(email, 'subject', asString(r['subject']));
  put(email, 'message_id', asString(r['messageId']));
  put(email, 'direction', directionOf(r));

  const file = fileOf(r);
  if (file !== undefined) {
    const hash = file['hash'] as Record<string, unknown> | undefined;
    email['attachments'] = [{ file: hash === undefined ? { ...file } : { ...file, hash: { ...hash } } }];
  } else {
    put(email, 'attachments', attachmentList(r['attachments'], r['numberAttachments'], r['totalSizeAttachments']));
  }

  const doc: EcsDocument = { '@timestamp': time, event };
  if (hasKeys(email)) doc['email'] = email;

  const source: Record<string, unknown> = {};
  const sourceIp = asIp(r['senderIp']) ?? asIp(r['sourceIp']);
  put(source, 'ip', sourceIp);
  put(source, 'domain', asString(r['senderDomain']));
  if (hasKeys(source)) doc['source'] = source;
  const destinationIp = asIp(r['destinationIp']);
  if (destinationIp !== undefined) doc['destination'] = { ip: destinationIp };
  related.addIp(sourceIp).addIp(destinationIp).addIp(r['customerIp']);

  const tls = tlsOf(r);
  if (hasKeys(tls)) doc['tls'] = tls;
  if (file !== undefined) {
    doc['file'] = file;
    const hash = file['hash'] as Record<string, unknown> | undefined;
    if (hash !== undefined) related.addHash(hash['md5']).addHash(hash['sha1']).addHash(hash['sha256']);
  }
  // url_protect has `url`; a Cloud Integrated click has `originalUrl` (and where it led, under mimecast.redirectUrl).
  const url = urlOf(r['url']) ?? urlOf(r['originalUrl']);
  if (url !== undefined) doc['url'] = url;
  const userEmail = asString(r['userEmailAddress']);
  if (userEmail !== undefined) {
    doc['user'] = { email: userEmail };
    related.addUser(userEmail);
  }
  const ruleName = asString(r['policyDefinition']) ?? asString(r['definition']) ?? policyNames(r['policiesApplied']);
  if (ruleName !== undefined) doc['rule'] = { name: ruleName };

  const error: Record<string, unknown> = {};
  put(error, 'code', asString(r['rejectionCode']));
  put(error, 'type', asString(r['rejectionType']));
  put(error, 'message', asString(r['receiptErrors']) ?? asString(r['deliveryErrors']));
  if (hasKeys(error)) doc['error'] = error;

  related.addHost(r['Hostname']);
  const rel = related.toEcs();
  if (rel !== undefined) doc['related'] = rel;

  // The record's own keys first, so they can never overwrite the three metadata keys.
  // 2.0 sends spamProcessingDetail as JSON text: its parsed form goes beside it, the original stays as sent.
  const spamDetail = jsonObjectOf(r['spamProcessingDetail']);
  const parsed = spamDetail === undefined ? undefined : { spam_processing_detail: spamDetail };
  return finishEvent(r, doc, id, time, { stream: STREAM, account: ctx.account, logType, ...(parsed === undefined ? {} : { parsed }), timeMissing: missing, canonical });
}
