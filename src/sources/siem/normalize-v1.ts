// Turns one SIEM API 1.0 record (get-siem-logs, JSON or key_value) into an ECS output event shaped like the 2.0 ones.
import type { EcsDocument, NormalizedEvent, SiemType } from '../../core/contracts.js';
import { siemTypeFromApi } from '../../core/contracts.js';
import { Related, asBool, asInt, asIp, asString, hasKeys, put, canonicalJson, idFromCanonical } from '../../normalize/ecs.js';
import { attachmentList, emailParties, putEmailParties } from '../../normalize/email.js';
import { directionOf, fileFields, finishEvent, hashesOf, jsonObjectOf, requireObject, urlFields, stampOf } from '../../normalize/fields.js';
import { parseTime } from '../../normalize/time.js';
import { ACTION_OUTCOMES, ACTION_WORDS, putTlsVersion, siemCategories } from './normalize.js';

const STREAM = 'siem';

/** File-name prefixes of get-siem-logs files (Content-Disposition) → log type. */
const PREFIXES: ReadonlyMap<string, SiemType> = new Map([
  ['receipt', 'receipt'],
  ['process', 'process'],
  ['delivery', 'delivery'],
  ['jrnl', 'journal'],
  ['journal', 'journal'],
  ['av', 'av'],
  ['spameventthread', 'spam'],
  ['spam', 'spam'],
  ['iep', 'internal_email_protect'],
  ['impersonation', 'impersonation_protect'],
  ['ttp_ip', 'impersonation_protect'],
  ['ttp_url', 'url_protect'],
  ['ttp_ap', 'attachment_protect'],
]);

const FILE_NAME = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i;

/**
 * The log type a get-siem-logs file name or prefix names: `receipt`, `ttp_url_2021...json`,
 * `attachment; filename="jrnl_2021.json"` all work; unknown → undefined.
 */
export function siemV1TypeFromName(name: string | undefined): SiemType | undefined {
  if (name === undefined) return undefined;
  let s = name.trim();
  const m = FILE_NAME.exec(s);
  if (m?.[1] !== undefined) s = m[1];
  s = (s.split('/').pop() ?? s).toLowerCase();
  const direct = PREFIXES.get(s) ?? siemTypeFromApi(s);
  if (direct !== undefined) return direct;
  // "<prefix>_<yyyyMMddHHmmssSSS>.<ext>": strip the stamp and extension, keep a two-part ttp_ prefix.
  const stem = s.replace(/\.[a-z0-9.]+$/, '').replace(/_\d+$/, '');
  return PREFIXES.get(stem) ?? siemTypeFromApi(stem);
}

/** Keys whose presence settles the type (lower-cased; 1.0 key case varies between types). */
const DEFINITE: ReadonlyArray<readonly [SiemType, readonly string[]]> = [
  ['delivery', ['delivered', 'receiptack', 'latency', 'attempt', 'snt', 'usetls', 'err']],
  ['journal', ['rcptacttype', 'rcpthdrtype']],
  ['process', ['attnames', 'msgsize', 'hld', 'ipinternalname', 'ipnewdomain', 'ipreplymismatch', 'ipsimilardomain', 'ipthreaddict']],
  ['receipt', ['spamscore', 'spamlimit', 'spaminfo', 'spamprocessingdetail', 'error']],
  [
    'impersonation_protect',
    ['definition', 'hits', 'taggedmalicious', 'taggedexternal', 'customname', 'internalname', 'newdomain', 'replymismatch', 'similarinternaldomain', 'similarcustomexternaldomain', 'similarmimecastexternaldomain', 'threatdictionary', 'customthreatdictionary'],
  ],
  ['internal_email_protect', ['scanresultinfo']],
  ['url_protect', ['reason', 'credentialtheft']],
  ['av', ['customerip', 'mimecastip', 'senderdomaininternal', 'virus']],
];

/**
 * The log type of a 1.0 record from its keys alone (for records whose file name is unknown).
 * Ordered rules, most specific first; `unknown` when nothing fits.
 */
export function classifySiemV1(r: Record<string, unknown>): SiemType | 'unknown' {
  const keys = new Set<string>();
  for (const k of Object.keys(r)) keys.add(k.toLowerCase());
  const has = (k: string): boolean => keys.has(k);
  // Receipt's "Virus" must not make a receipt an AV record: receipt keys are checked first,
  // and AV requires a non-receipt shape (Recipient rather than Rcpt).
  for (const [type, markers] of DEFINITE) {
    if (type === 'av' && has('rcpt')) continue;
    if (markers.some(has)) return type;
  }
  if (has('filename') || has('md5') || has('sha1') || has('sha256') || has('fileext') || has('filemime')) return 'attachment_protect';
  // The URL-protect keys are lower camel case ("url", "sourceIp"); internal email protect and spam use "URL" / "SourceIP".
  if ('URL' in r || has('urlcategory')) return 'URL' in r ? 'internal_email_protect' : 'url_protect';
  if ('url' in r || 'sourceIp' in r) return 'url_protect';
  if ('SourceIP' in r || (has('recipient') && has('headerfrom'))) return 'spam';
  if (has('act')) return has('attcnt') || has('attsize') ? 'process' : 'receipt';
  if (has('rejtype') || has('rejcode') || has('rejinfo') || has('tlsver') || has('cphr')) return 'receipt';
  return 'unknown';
}

/** The first present, non-blank string among `keys`. */
function first(r: Record<string, unknown>, ...keys: string[]): string | undefined {
  for (const k of keys) {
    const v = asString(r[k]);
    if (v !== undefined) return v;
  }
  return undefined;
}

function actionOf(logType: string, r: Record<string, unknown>): { action?: string; outcome?: 'success' | 'failure' } {
  if (logType === 'delivery') {
    const delivered = asBool(r['Delivered']);
    if (delivered === undefined) return {};
    return delivered ? { action: 'delivered', outcome: 'success' } : { action: 'not_delivered', outcome: 'failure' };
  }
  const raw = first(r, 'Act', 'Action', 'action');
  if (raw === undefined) return {};
  const lower = raw.toLowerCase();
  const action = ACTION_WORDS.get(lower) ?? lower;
  const outcome = logType === 'receipt' || logType === 'process' ? ACTION_OUTCOMES.get(action) : undefined;
  return outcome === undefined ? { action } : { action, outcome };
}

function tlsOf(r: Record<string, unknown>): Record<string, unknown> {
  const tls: Record<string, unknown> = {};
  putTlsVersion(tls, asString(r['TlsVer']));
  put(tls, 'cipher', asString(r['Cphr']));
  put(tls, 'established', asBool(r['UseTls']));
  return tls;
}

/** The type this record gets: the file-name prefix when it names one, else the record's keys. */
function logTypeOf(r: Record<string, unknown>, given: string | undefined): string {
  return siemV1TypeFromName(given) ?? siemV1TypeFromName(asString(r['Content-Disposition'])) ?? classifySiemV1(r);
}

/**
 * Normalizes one SIEM API 1.0 record. `ctx.logType` is the file-name prefix from the reply's
 * Content-Disposition (`receipt`, `jrnl`, `ttp_url`, ...); absent or unknown → classified by
 * keys. `mimecast.log_type` uses the same ten names as API 2.0. `datetime` keeps the account's
 * local offset (`+0100`, `-0400`) and is converted to UTC. key_value records (every value a
 * string: "true", "3") and JSON records (typed values) normalize alike. `SpamProcessingDetail`
 * and `credentialTheft` are also available parsed under `mimecast.parsed.spam_processing_detail`
 * / `mimecast.parsed.credential_theft`, whether sent as objects or as JSON text.
 */
export function normalizeSiemV1(record: unknown, ctx: { account: string; logType?: string }): NormalizedEvent {
  const r = requireObject(STREAM, record, 'SIEM 1.0 record');
  const logType = logTypeOf(r, ctx.logType);
  const at = parseTime(r['datetime']);
  const { time, missing } = stampOf(at);
  // The canonical text serves twice: hashed for the id, and written as mimecast.* (finishEvent).
  const canonical = canonicalJson(r);
  const id = idFromCanonical(ctx.account, STREAM, canonical);
  const related = new Related();

  const { action, outcome } = actionOf(logType, r);
  const { category, type } = siemCategories(logType, asString(r['Virus']) !== undefined, action);
  const event: Record<string, unknown> = { id, module: 'mimecast', dataset: `mimecast.${STREAM}`, kind: 'event', category, type };
  put(event, 'action', action);
  put(event, 'outcome', outcome);
  put(event, 'reason', first(r, 'RejInfo', 'Hld', 'reason', 'ScanResultInfo', 'Virus', 'RejType'));

  const email: Record<string, unknown> = {};
  putEmailParties(email, related, emailParties(r));
  put(email, 'subject', first(r, 'Subject', 'subject'));
  put(email, 'message_id', first(r, 'MsgId', 'msgid'));
  put(email, 'local_id', asString(r['aCode']));
  put(email, 'direction', directionOf(r['Dir']) ?? directionOf(r['Route']) ?? directionOf(r['route']));

  const file = fileFields({
    name: asString(r['fileName']),
    extension: asString(r['fileExt']),
    mimeType: asString(r['fileMime']),
    size: asInt(r['Size']),
    hashes: [asString(r['md5']), asString(r['sha1']), asString(r['sha256'])],
  });
  if (file !== undefined) {
    email['attachments'] = [{ file: structuredClone(file) }];
  } else {
    put(email, 'attachments', attachmentList(r['AttNames'], r['AttCnt'], r['AttSize']));
  }

  const doc: EcsDocument = { '@timestamp': time, event };
  if (hasKeys(email)) doc['email'] = email;

  // "IP" is the sending server except in delivery logs, where it is the server delivered to.
  const ipKey = logType === 'delivery' ? undefined : asIp(r['IP']);
  const source: Record<string, unknown> = {};
  const sourceIp = ipKey ?? asIp(r['SourceIP']) ?? asIp(r['sourceIp']);
  put(source, 'ip', sourceIp);
  put(source, 'domain', first(r, 'SenderDomain', 'senderDomain'));
  if (hasKeys(source)) doc['source'] = source;
  const destinationIp = logType === 'delivery' ? asIp(r['IP']) : undefined;
  if (destinationIp !== undefined) doc['destination'] = { ip: destinationIp };
  related.addIp(sourceIp).addIp(destinationIp);

  const tls = tlsOf(r);
  if (hasKeys(tls)) doc['tls'] = tls;
  if (file !== undefined) {
    doc['file'] = file;
    related.addHash(hashesOf(file));
  }
  const url = urlFields(r['URL'] ?? r['url']);
  if (url !== undefined) {
    doc['url'] = url;
    related.addHost(url['domain']);
  }
  const rule = asString(r['Definition']);
  if (rule !== undefined) doc['rule'] = { name: rule };

  const error: Record<string, unknown> = {};
  put(error, 'code', asString(r['RejCode']));
  put(error, 'type', asString(r['RejType']));
  put(error, 'message', first(r, 'Error', 'Err'));
  if (hasKeys(error)) doc['error'] = error;

  const rel = related.toEcs();
  if (rel !== undefined) doc['related'] = rel;

  const parsed: Record<string, unknown> = {};
  put(parsed, 'spam_processing_detail', jsonObjectOf(r['SpamProcessingDetail']));
  put(parsed, 'credential_theft', jsonObjectOf(r['credentialTheft']));
  return finishEvent(r, doc, id, time, { stream: STREAM, account: ctx.account, logType, parsed, timeMissing: missing, canonical });
}
