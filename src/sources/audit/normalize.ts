// Turns one audit event (`get-audit-events` `data[]` item) into an ECS output event, reading what it can from eventInfo.
import type { EcsDocument, NormalizedEvent } from '../../core/contracts.js';
import { Related, asIp, asString, eventId, hasKeys, put } from '../../normalize/ecs.js';
import { finishEvent, requireObject, snakeCase, stampOf } from '../../normalize/fields.js';
import { parseTime } from '../../normalize/time.js';

const STREAM = 'audit';

export interface EventInfoFields {
  ip?: string;
  application?: string;
  method?: string;
  reason?: string;
}

// eventInfo is free text whose wording changes; each pattern looks for one "Key: value" pair
// anywhere, ending at a comma, a closing bracket, a newline, the next "Key:" or the end.
// The last match wins: the standard suffix (", Date: ..., IP: ..., Application: ...") comes last,
// while copies of these words inside quoted search criteria come earlier.
const IP_PATTERN = /(?:^|[\s,[(])(?:remote\s+)?ip(?:\s+address)?\s*(?::|\bis\b)\s*\[?([0-9a-f:.]+)\]?/gi;
const VALUE_END = String.raw`(?=\s*(?:,|\]|\n|\r|$|\s(?:IP|Date|Time|Method|Reason|2FA)\s*:))`;
const APPLICATION_PATTERN = new RegExp(String.raw`(?:^|[\s,[(])application\s*:\s*([^,\]\r\n]+?)${VALUE_END}`, 'gi');
const METHOD_PATTERN = new RegExp(String.raw`(?:^|[\s,[(])method\s*:\s*([^,\]\r\n]+?)${VALUE_END}`, 'gi');
const REASON_PATTERN = new RegExp(String.raw`(?:^|[\s,[(])reason\s*:\s*([^,\]\r\n]+?)${VALUE_END}`, 'gi');

function lastMatch(text: string, pattern: RegExp): string | undefined {
  let last: string | undefined;
  for (const m of text.matchAll(pattern)) {
    const v = m[1]?.trim();
    if (v !== undefined && v.length > 0) last = v;
  }
  return last;
}

/**
 * IP, Application, Method and Reason from free-text `eventInfo`; whatever does not match is
 * simply absent. Never throws: commas in names, brackets, new wording only cost fields.
 */
export function parseEventInfo(v: unknown): EventInfoFields {
  const out: EventInfoFields = {};
  if (typeof v !== 'string' || v.length === 0) return out;
  // Bound the work on pathological inputs; the useful suffix sits within the last few hundred characters.
  const text = v.length > 16_384 ? v.slice(-16_384) : v;
  let ip: string | undefined;
  for (const m of text.matchAll(IP_PATTERN)) {
    const candidate = asIp(m[1]?.replace(/[.:]+$/, ''));
    if (candidate !== undefined) ip = candidate;
  }
  if (ip !== undefined) out.ip = ip;
  const application = lastMatch(text, APPLICATION_PATTERN);
  if (application !== undefined) out.application = application;
  const method = lastMatch(text, METHOD_PATTERN);
  if (method !== undefined) out.method = method;
  const reason = lastMatch(text, REASON_PATTERN);
  if (reason !== undefined) out.reason = reason;
  return out;
}

const FAILURE = /\b(fail(?:ed|ure)?|denied|locked|rejected|invalid)\b/i;
const SUCCESS = /\b(success(?:ful(?:ly)?)?|logged on|logged in)\b/i;

function categorize(category: string | undefined, auditType: string): { category: string[]; type: string[] } {
  const t = auditType.toLowerCase();
  if (category === 'authentication_logs' || /\b(log ?on|log ?in|logged|authentication)\b/.test(t)) {
    return { category: ['authentication'], type: SUCCESS.test(auditType) && !FAILURE.test(auditType) ? ['start', 'info'] : ['info'] };
  }
  let type = 'info';
  if (/\b(created?|added?|new)\b/.test(t)) type = 'creation';
  else if (/\b(deleted?|removed?)\b/.test(t)) type = 'deletion';
  else if (/\b(updated?|changed?|modified|edited|enabled|disabled|reset)\b/.test(t)) type = 'change';
  else if (/\b(viewed|download|export|search)/.test(t)) type = 'access';
  const cats = category === 'account_logs' || /\b(user|group|role|permission|password)\b/.test(t) ? ['iam', 'configuration'] : ['configuration'];
  return { category: cats, type: [type] };
}

/**
 * One audit event → event. `event.id` from the API's `id`; `@timestamp` from `eventTime`;
 * `user.*` from `user`; `source.ip` and the application/method from `eventInfo` where its text
 * says them (also under `mimecast.parsed.event_info`).
 */
export function normalizeAudit(record: unknown, ctx: { account: string; logType?: string }): NormalizedEvent {
  const r = requireObject(STREAM, record, 'audit event');
  const at = parseTime(r['eventTime']);
  const { time, missing } = stampOf(at);
  const id = eventId(ctx.account, STREAM, r, asString(r['id']));
  const related = new Related();

  const auditType = asString(r['auditType']) ?? '';
  const { category, type } = categorize(asString(r['category']), auditType);
  const event: Record<string, unknown> = { id, module: 'mimecast', dataset: `mimecast.${STREAM}`, kind: 'event', category, type };
  put(event, 'action', snakeCase(auditType));
  const info = parseEventInfo(r['eventInfo']);
  if (FAILURE.test(auditType)) event['outcome'] = 'failure';
  else if (SUCCESS.test(auditType) || /^successful/i.test(asString(r['eventInfo']) ?? '')) event['outcome'] = 'success';
  put(event, 'reason', info.reason);

  const doc: EcsDocument = { '@timestamp': time, event };
  const userName = asString(r['user']);
  if (userName !== undefined) {
    const user: Record<string, unknown> = { name: userName };
    if (userName.includes('@')) user['email'] = userName;
    doc['user'] = user;
    related.addUser(userName);
  }
  if (info.ip !== undefined) doc['source'] = { ip: info.ip };
  related.addIp(info.ip);
  put(doc, 'message', asString(r['eventInfo']));
  const rel = related.toEcs();
  if (rel !== undefined) doc['related'] = rel;

  const parsed: Record<string, unknown> = {};
  if (hasKeys(info as Record<string, unknown>)) parsed['event_info'] = { ...info };
  return finishEvent(r, doc, id, time, { stream: STREAM, account: ctx.account, logType: STREAM, parsed, timeMissing: missing });
}
