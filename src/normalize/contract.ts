// Checks an output document against the product's event contract; tests run it on every line.
import { STREAM_NAMES, type NormalizedEvent } from '../core/contracts.js';
import { isRecord } from '../core/util.js';

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;

// ECS allowed values (ECS 8.x categorization fields).
const KINDS = new Set(['alert', 'asset', 'enrichment', 'event', 'metric', 'state', 'pipeline_error', 'signal']);
const CATEGORIES = new Set([
  'api', 'authentication', 'configuration', 'database', 'driver', 'email', 'file', 'host', 'iam',
  'intrusion_detection', 'library', 'malware', 'network', 'package', 'process', 'registry', 'session',
  'threat', 'vulnerability', 'web',
]);
const TYPES = new Set([
  'access', 'admin', 'allowed', 'change', 'connection', 'creation', 'deletion', 'denied', 'device', 'end',
  'error', 'group', 'indicator', 'info', 'installation', 'protocol', 'start', 'user',
]);
const OUTCOMES = new Set(['success', 'failure', 'unknown']);
const STREAMS: ReadonlySet<string> = new Set(STREAM_NAMES);

function nonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

/** Every way `doc` breaks the output event contract; an empty list means it is valid. */
export function checkEventContract(doc: unknown): string[] {
  const problems: string[] = [];
  if (!isRecord(doc)) return ['document is not a JSON object'];

  const ts = doc['@timestamp'];
  if (typeof ts !== 'string' || !ISO_UTC.test(ts) || Number.isNaN(Date.parse(ts))) {
    problems.push(`@timestamp must be an ISO 8601 UTC string, got ${JSON.stringify(ts)}`);
  }

  const mc = doc['mimecast'];
  let stream: unknown;
  if (!isRecord(mc)) {
    problems.push('mimecast must be an object');
  } else {
    stream = mc['stream'];
    if (!nonEmptyString(mc['account'])) problems.push('mimecast.account must be a non-empty string');
    if (typeof stream !== 'string' || !STREAMS.has(stream)) {
      problems.push(`mimecast.stream must be a known stream name, got ${JSON.stringify(stream)}`);
    }
    if (!nonEmptyString(mc['log_type'])) problems.push('mimecast.log_type must be a non-empty string');
  }

  const ev = doc['event'];
  if (!isRecord(ev)) {
    problems.push('event must be an object');
    return problems;
  }
  if (!nonEmptyString(ev['id'])) problems.push('event.id must be a non-empty string');
  if (ev['module'] !== 'mimecast') problems.push(`event.module must be "mimecast", got ${JSON.stringify(ev['module'])}`);
  if (typeof stream === 'string' && ev['dataset'] !== `mimecast.${stream}`) {
    problems.push(`event.dataset must be "mimecast.${stream}", got ${JSON.stringify(ev['dataset'])}`);
  }
  if (typeof ev['kind'] !== 'string' || !KINDS.has(ev['kind'])) {
    problems.push(`event.kind must be an ECS kind, got ${JSON.stringify(ev['kind'])}`);
  }
  checkList(problems, 'event.category', ev['category'], CATEGORIES);
  checkList(problems, 'event.type', ev['type'], TYPES);
  const outcome = ev['outcome'];
  if (outcome !== undefined && (typeof outcome !== 'string' || !OUTCOMES.has(outcome))) {
    problems.push(`event.outcome must be success, failure or unknown, got ${JSON.stringify(outcome)}`);
  }
  if (ev['action'] !== undefined && !nonEmptyString(ev['action'])) problems.push('event.action must be a non-empty string');
  return problems;
}

function checkList(problems: string[], name: string, v: unknown, allowed: ReadonlySet<string>): void {
  if (v === undefined) return;
  if (!Array.isArray(v) || v.length === 0) {
    problems.push(`${name} must be a non-empty array of strings`);
    return;
  }
  for (const item of v) {
    if (typeof item !== 'string' || !allowed.has(item)) problems.push(`${name} has a value ECS does not allow: ${JSON.stringify(item)}`);
  }
}

/** The contract on the document plus agreement between the event's envelope and its document. */
export function checkNormalizedEvent(e: NormalizedEvent): string[] {
  const problems = checkEventContract(e.doc);
  const ev = isRecord(e.doc['event']) ? e.doc['event'] : {};
  const mc = isRecord(e.doc['mimecast']) ? e.doc['mimecast'] : {};
  if (ev['id'] !== e.id) problems.push('NormalizedEvent.id differs from event.id');
  if (e.doc['@timestamp'] !== e.time) problems.push('NormalizedEvent.time differs from @timestamp');
  if (mc['stream'] !== e.stream) problems.push('NormalizedEvent.stream differs from mimecast.stream');
  if (mc['account'] !== e.account) problems.push('NormalizedEvent.account differs from mimecast.account');
  return problems;
}
