// Turns one TTP Impersonation Protect log (`data[0].impersonationLogs[]` item) into an ECS output event.
import type { EcsDocument, NormalizedEvent } from '../../core/contracts.js';
import { Related, asBool, asIp, asString, eventId, hasKeys, lowerOrUndefined, put } from '../../normalize/ecs.js';
import { emailParties, putEmailParties } from '../../normalize/email.js';
import { finishEvent, requireObject, stampOf } from '../../normalize/fields.js';
import { parseTime } from '../../normalize/time.js';

const STREAM = 'ttp_impersonation';

/**
 * One impersonation log → event. `@timestamp` from `eventTime`; `event.id` from the API's own
 * `id` (falls back to the record hash when absent); `source.ip` from `senderIpAddress`;
 * `rule.name` from `definition`. Tagged-malicious logs are `event.kind: alert`.
 */
export function normalizeTtpImpersonation(record: unknown, ctx: { account: string; logType?: string }): NormalizedEvent {
  const r = requireObject(STREAM, record, 'TTP impersonation log');
  const at = parseTime(r['eventTime']);
  const { time, missing } = stampOf(at);
  const id = eventId(ctx.account, STREAM, r, asString(r['id']));
  const related = new Related();

  const action = lowerOrUndefined(r['action']);
  const type = ['info', 'indicator'];
  if (action === 'hold' || action === 'bounce' || action === 'reject') type.push('denied');
  const event: Record<string, unknown> = {
    id,
    module: 'mimecast',
    dataset: `mimecast.${STREAM}`,
    kind: asBool(r['taggedMalicious']) === true ? 'alert' : 'event',
    category: ['email', 'threat'],
    type,
  };
  put(event, 'action', action);
  const identifiers = Array.isArray(r['identifiers'])
    ? r['identifiers'].map((i) => asString(i)).filter((i): i is string => i !== undefined)
    : [];
  put(event, 'reason', identifiers.length > 0 ? identifiers.join(', ') : undefined);

  const email: Record<string, unknown> = {};
  putEmailParties(email, related, emailParties(r));
  put(email, 'subject', asString(r['subject']));
  put(email, 'message_id', asString(r['messageId']));

  const doc: EcsDocument = { '@timestamp': time, event };
  if (hasKeys(email)) doc['email'] = email;
  const ip = asIp(r['senderIpAddress']);
  if (ip !== undefined) doc['source'] = { ip };
  related.addIp(ip);
  const rule = asString(r['definition']);
  if (rule !== undefined) doc['rule'] = { name: rule };
  const rel = related.toEcs();
  if (rel !== undefined) doc['related'] = rel;
  return finishEvent(r, doc, id, time, { stream: STREAM, account: ctx.account, logType: STREAM, timeMissing: missing });
}
