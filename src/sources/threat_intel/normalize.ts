// Turns one threat-intel feed entry (a STIX 2 object, or a CSV row as an object) into an ECS output event.
import type { EcsDocument, NormalizedEvent } from '../../core/contracts.js';
import { Related, asIp, asString, hasKeys, put, canonicalJson, idFromCanonical } from '../../normalize/ecs.js';
import { fileFields, finishEvent, hashKind, hashesOf, requireObject, snakeCase, urlFields, stampOf } from '../../normalize/fields.js';
import { parseTime } from '../../normalize/time.js';

const STREAM = 'threat_intel';

/** One comparison from a STIX pattern: `[file:hashes.'SHA-256' = 'ab..']` → object file, path hashes.'SHA-256'. */
interface Comparison {
  object: string;
  path: string;
  value: string;
}

const COMPARISON = /([a-z0-9-]+):([a-z0-9_.'"-]+)\s*(?:=|LIKE|MATCHES)\s*'((?:[^'\\]|\\.)*)'/gi;

export function parseStixPattern(pattern: unknown): Comparison[] {
  if (typeof pattern !== 'string') return [];
  const out: Comparison[] = [];
  for (const m of pattern.slice(0, 65_536).matchAll(COMPARISON)) {
    const [, object, path, raw] = m;
    if (object === undefined || path === undefined || raw === undefined) continue;
    out.push({ object: object.toLowerCase(), path: path.replace(/["']/g, '').toLowerCase(), value: raw.replace(/\\(.)/g, '$1') });
  }
  return out;
}

/** ECS `threat.indicator` fields the pattern names (type from the first comparison, values from all). */
function indicatorFromPattern(comparisons: readonly Comparison[], related: Related): Record<string, unknown> {
  const indicator: Record<string, unknown> = {};
  const first = comparisons[0];
  if (first !== undefined) indicator['type'] = first.object;
  const hashes: string[] = [];
  let fileName: string | undefined;
  for (const c of comparisons) {
    switch (c.object) {
      case 'file':
        if (c.path.startsWith('hashes.')) hashes.push(c.value);
        else if (c.path === 'name') fileName = c.value;
        break;
      case 'url':
        if (indicator['url'] === undefined) {
          const url = urlFields(c.value);
          if (url !== undefined) {
            indicator['url'] = url;
            related.addHost(url['domain']);
          }
        }
        break;
      case 'domain-name':
        if (indicator['url'] === undefined) indicator['url'] = { domain: c.value };
        related.addHost(c.value);
        break;
      case 'ipv4-addr':
      case 'ipv6-addr': {
        const ip = asIp(c.value.replace(/\/(32|128)$/, ''));
        if (ip !== undefined && indicator['ip'] === undefined) indicator['ip'] = ip;
        related.addIp(ip);
        break;
      }
      case 'email-addr':
        if (indicator['email'] === undefined) indicator['email'] = { address: c.value };
        related.addUser(c.value);
        break;
      default:
        break;
    }
  }
  const file = fileFields({ name: fileName, hashes });
  if (file !== undefined) {
    indicator['file'] = file;
    related.addHash(hashesOf(file));
  }
  return indicator;
}

const FEED = /(malware_customer|malware_grid)/i;

/** `mimecast.log_type`: the feed the source says, else the feed named in an embedded file name, else "threat_intel". */
function logTypeOf(r: Record<string, unknown>, ctxLogType: string | undefined): string {
  const given = snakeCase(ctxLogType);
  if (given !== undefined) return given;
  const fileName = asString(r['Content-Disposition']) ?? asString(r['fileName']);
  const m = fileName === undefined ? null : FEED.exec(fileName);
  return m?.[1] !== undefined ? m[1].toLowerCase() : STREAM;
}

/** Column lookup for CSV rows, tolerant of case and separators ("SHA-256", "sha256", "Sha 256"). */
function column(r: Record<string, unknown>, ...names: string[]): unknown {
  for (const [k, v] of Object.entries(r)) {
    const key = k.toLowerCase().replace(/[^a-z0-9]/g, '');
    if (names.includes(key) && v !== undefined && v !== null && v !== '') return v;
  }
  return undefined;
}

const CSV_TIME_COLUMNS = ['created', 'createtime', 'timestamp', 'date', 'datetime', 'firstseen', 'lastseen', 'modified', 'eventtime'];

/**
 * One feed entry → event (`event.kind: enrichment`). STIX objects: `@timestamp` from `modified`
 * (else `created`, else `valid_from`); indicators get `threat.indicator.*` from their pattern
 * (type, file hashes, url, domain, ip, email); malware objects `threat.software.*`. CSV rows:
 * hash columns become a file indicator, the first date-like column the timestamp.
 */
export function normalizeThreatIntel(record: unknown, ctx: { account: string; logType?: string }): NormalizedEvent {
  const r = requireObject(STREAM, record, 'threat-intel entry');
  const stixType = asString(r['type'])?.toLowerCase();
  const isStix = stixType !== undefined && typeof r['id'] === 'string' && (r['id'] as string).includes('--');
  const at = isStix
    ? parseTime(r['modified']) ?? parseTime(r['created']) ?? parseTime(r['valid_from'])
    : parseTime(column(r, ...CSV_TIME_COLUMNS));
  const logType = logTypeOf(r, ctx.logType);
  const { time, missing } = stampOf(at);
  // The canonical text serves twice: hashed for the id, and written as mimecast.* (finishEvent).
  const canonical = canonicalJson(r);
  const id = idFromCanonical(ctx.account, STREAM, canonical);
  const related = new Related();

  const isIndicator = stixType === 'indicator' || !isStix;
  const event: Record<string, unknown> = {
    id,
    module: 'mimecast',
    dataset: `mimecast.${STREAM}`,
    kind: 'enrichment',
    category: ['threat'],
    type: isIndicator || stixType === 'malware' ? ['indicator'] : ['info'],
  };
  put(event, 'action', isStix ? stixType : 'indicator');

  const threat: Record<string, unknown> = { feed: { name: `Mimecast ${logType}` } };
  if (isStix && stixType === 'indicator') {
    const indicator = indicatorFromPattern(parseStixPattern(r['pattern']), related);
    put(indicator, 'first_seen', parseTime(r['valid_from'])?.toISOString());
    put(indicator, 'modified_at', parseTime(r['modified'])?.toISOString());
    put(indicator, 'description', asString(r['description']));
    indicator['provider'] = 'Mimecast';
    threat['indicator'] = indicator;
  } else if (isStix && stixType === 'malware') {
    const software: Record<string, unknown> = { type: 'Malware' };
    put(software, 'id', asString(r['id']));
    put(software, 'name', asString(r['name']));
    threat['software'] = software;
  } else if (!isStix) {
    const hashes = [column(r, 'sha256', 'sha1', 'md5', 'hash', 'filehash'), column(r, 'sha1'), column(r, 'md5')]
      .map((h) => asString(h))
      .filter((h): h is string => h !== undefined && hashKind(h) !== undefined);
    const file = fileFields({ name: asString(column(r, 'filename', 'name')), hashes });
    const indicator: Record<string, unknown> = { type: 'file', provider: 'Mimecast' };
    if (file !== undefined) {
      indicator['file'] = file;
      related.addHash(hashesOf(file));
    }
    threat['indicator'] = indicator;
  }

  const doc: EcsDocument = { '@timestamp': time, event, threat };
  const labels = Array.isArray(r['labels']) ? r['labels'].map((l) => asString(l)).filter((l): l is string => l !== undefined) : [];
  if (labels.length > 0) doc['tags'] = labels;
  put(doc, 'message', asString(r['name']));
  const rel = related.toEcs();
  if (rel !== undefined) doc['related'] = rel;
  if (!hasKeys(threat)) delete doc['threat'];
  return finishEvent(r, doc, id, time, { stream: STREAM, account: ctx.account, logType, timeMissing: missing, canonical });
}
