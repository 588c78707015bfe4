// Turns one held-message release log (`data[0].heldReleaseLogs[]` item) into an ECS output event.
import type { EcsDocument, NormalizedEvent } from '../../core/contracts.js';
import { Related, asInt, asString, hasKeys, lowerOrUndefined, put, uniq, canonicalJson, idFromCanonical } from '../../normalize/ecs.js';
import { addressesOf, emailParties, partyAddresses, putEmailParties } from '../../normalize/email.js';
import { isRecord } from '../../core/util.js';
import { directionOf, finishEvent, jsonObjectOf, requireObject, stampOf } from '../../normalize/fields.js';
import { parseTime } from '../../normalize/time.js';

const STREAM = 'held_release';
/** Where the record's own time may be, best first: the release/reject time, then the time the message was held. */
const TIME_KEYS = ['released', 'releasedTime', 'eventTime', 'dateReceived', 'received', 'heldTime'] as const;

function displayNames(v: unknown): string[] {
  const list = Array.isArray(v) ? v : [v];
  const out: string[] = [];
  for (const item of list) {
    const name = isRecord(item) ? asString(item['displayableName']) : undefined;
    if (name !== undefined) out.push(name);
  }
  return out;
}

/**
 * One release log → event. `event.id` hashes the whole record: the API's `id` names the held message, and one
 * message can have several release log entries (per route or recipient), which must not collapse into one; `@timestamp` from `released` (else
 * the first other time field present); `event.action` is the status (released / rejected);
 * `user.*` is the operator who acted. `spamProcessingDetail` (object or JSON text) is also
 * available, parsed, under `mimecast.parsed.spam_processing_detail`.
 */
export function normalizeHeldRelease(record: unknown, ctx: { account: string; logType?: string }): NormalizedEvent {
  const r = requireObject(STREAM, record, 'held-release log');
  let at: Date | undefined;
  for (const key of TIME_KEYS) {
    at = parseTime(r[key]);
    if (at !== undefined) break;
  }
  const { time, missing } = stampOf(at);
  // The canonical text serves twice: hashed for the id, and written as mimecast.* (finishEvent).
  const canonical = canonicalJson(r);
  const id = idFromCanonical(ctx.account, STREAM, canonical);
  const related = new Related();

  const status = lowerOrUndefined(r['status']);
  const type = ['info'];
  if (status === 'released') type.push('allowed');
  else if (status === 'rejected') type.push('denied');
  const event: Record<string, unknown> = { id, module: 'mimecast', dataset: `mimecast.${STREAM}`, kind: 'event', category: ['email'], type };
  put(event, 'action', status);
  put(event, 'reason', asString(r['rejectReason']) ?? asString(r['heldReason']));
  put(event, 'risk_score', asInt(r['spamScore']));

  const email: Record<string, unknown> = {};
  const parties = emailParties(r);
  // A release log lists both senders under email.from (header first), as it always has.
  const from = uniq([...partyAddresses(r, 'header'), ...partyAddresses(r, 'envelope'), ...parties.from]);
  putEmailParties(email, related, { ...parties, from, all: uniq([...from, ...parties.all]) });
  put(email, 'subject', asString(r['subject']));
  put(email, 'message_id', asString(r['messageId']));
  put(email, 'direction', directionOf(r['route']));
  related.addUser(displayNames(r['fromEnv'])).addUser(displayNames(r['to']));

  const doc: EcsDocument = { '@timestamp': time, event };
  if (hasKeys(email)) doc['email'] = email;
  const operator = addressesOf(r['operator'])[0];
  if (operator !== undefined) {
    doc['user'] = operator.includes('@') ? { name: operator, email: operator } : { name: operator };
    related.addUser(operator);
  }
  const rule = asString(r['policy']);
  if (rule !== undefined) doc['rule'] = { name: rule };
  const rel = related.toEcs();
  if (rel !== undefined) doc['related'] = rel;

  const parsed: Record<string, unknown> = {};
  put(parsed, 'spam_processing_detail', jsonObjectOf(r['spamProcessingDetail']));
  return finishEvent(r, doc, id, time, { stream: STREAM, account: ctx.account, logType: STREAM, parsed, timeMissing: missing, canonical });
}
