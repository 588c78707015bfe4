// Turns one DLP log (`data[0].dlpLogs[]` item) into an ECS output event.
import type { EcsDocument, NormalizedEvent } from '../../core/contracts.js';
import { Related, asString, hasKeys, lowerOrUndefined, put, canonicalJson, idFromCanonical } from '../../normalize/ecs.js';
import { emailParties, putEmailParties } from '../../normalize/email.js';
import { directionOf, finishEvent, requireObject, stampOf } from '../../normalize/fields.js';
import { parseTime } from '../../normalize/time.js';

const STREAM = 'dlp';
const BLOCKING: ReadonlySet<string> = new Set(['hold', 'bounce', 'delete', 'reject', 'block']);

/**
 * One DLP log → event. A DLP record is a policy hit, so `event.kind` is `alert`; `rule.name`
 * is the policy and `event.action` the action taken (hold, notification, ...).
 */
export function normalizeDlp(record: unknown, ctx: { account: string; logType?: string }): NormalizedEvent {
  const r = requireObject(STREAM, record, 'DLP log');
  const at = parseTime(r['eventTime']);
  const { time, missing } = stampOf(at);
  // The canonical text serves twice: hashed for the id, and written as mimecast.* (finishEvent).
  const canonical = canonicalJson(r);
  const id = idFromCanonical(ctx.account, STREAM, canonical);
  const related = new Related();

  const action = lowerOrUndefined(r['action']);
  const type = ['info'];
  if (action !== undefined && BLOCKING.has(action)) type.push('denied');
  const event: Record<string, unknown> = { id, module: 'mimecast', dataset: `mimecast.${STREAM}`, kind: 'alert', category: ['email'], type };
  put(event, 'action', action);

  const email: Record<string, unknown> = {};
  putEmailParties(email, related, emailParties(r));
  put(email, 'subject', asString(r['subject']));
  put(email, 'message_id', asString(r['messageId']));
  put(email, 'direction', directionOf(r['route']));

  const doc: EcsDocument = { '@timestamp': time, event };
  if (hasKeys(email)) doc['email'] = email;
  const rule = asString(r['policy']);
  if (rule !== undefined) doc['rule'] = { name: rule };
  const rel = related.toEcs();
  if (rel !== undefined) doc['related'] = rel;
  return finishEvent(r, doc, id, time, { stream: STREAM, account: ctx.account, logType: STREAM, timeMissing: missing, canonical });
}
