// Turns one TTP URL Protect click log (`data[0].clickLogs[]` item) into an ECS output event.
import type { EcsDocument, NormalizedEvent } from '../../core/contracts.js';
import { Related, asIp, asString, hasKeys, lowerOrUndefined, put, uniq, canonicalJson, idFromCanonical } from '../../normalize/ecs.js';
import { addressesOf, emailParties, putEmailParties } from '../../normalize/email.js';
import { directionOf, finishEvent, jsonObjectOf, requireObject, urlFields, stampOf } from '../../normalize/fields.js';
import { parseTime } from '../../normalize/time.js';

const STREAM = 'ttp_url';

/**
 * One click log → event. `@timestamp` from `date`; `url.*` from `url`; `source.ip` from
 * `sendingIp` ("Internal IP" dropped); `user.email` is the clicking user. `credentialTheft`
 * (object, or JSON text) is also available parsed under `mimecast.parsed.credential_theft`.
 */
export function normalizeTtpUrl(record: unknown, ctx: { account: string; logType?: string }): NormalizedEvent {
  const r = requireObject(STREAM, record, 'TTP URL log');
  const at = parseTime(r['date']);
  const { time, missing } = stampOf(at);
  // The canonical text serves twice: hashed for the id, and written as mimecast.* (finishEvent).
  const canonical = canonicalJson(r);
  const id = idFromCanonical(ctx.account, STREAM, canonical);
  const related = new Related();

  const action = lowerOrUndefined(r['action']);
  const verdict = lowerOrUndefined(r['scanResult']);
  const type = ['info', 'indicator'];
  if (action === 'block') type.push('denied');
  else if (action === 'allow') type.push('allowed');
  const event: Record<string, unknown> = {
    id,
    module: 'mimecast',
    dataset: `mimecast.${STREAM}`,
    kind: verdict === 'malicious' ? 'alert' : 'event',
    category: ['email', 'threat', 'web'],
    type,
  };
  put(event, 'action', action);
  put(event, 'reason', asString(r['category']));

  const email: Record<string, unknown> = {};
  // The clicking user received the message the URL came in, so they are a recipient too.
  const clicker = addressesOf(r['userEmailAddress']);
  const parties = emailParties(r);
  const to = uniq([...clicker, ...parties.to]);
  putEmailParties(email, related, { ...parties, to, all: uniq([...parties.all, ...to]) });
  put(email, 'subject', asString(r['subject']));
  put(email, 'message_id', asString(r['messageId']));
  put(email, 'direction', directionOf(r['route']));

  const doc: EcsDocument = { '@timestamp': time, event };
  if (hasKeys(email)) doc['email'] = email;
  const ip = asIp(r['sendingIp']);
  if (ip !== undefined) doc['source'] = { ip };
  related.addIp(ip);
  const url = urlFields(r['url']);
  if (url !== undefined) {
    doc['url'] = url;
    related.addHost(url['domain']);
  }
  if (clicker[0] !== undefined) doc['user'] = { email: clicker[0] };
  const rule = asString(r['ttpDefinition']);
  if (rule !== undefined) doc['rule'] = { name: rule };
  const rel = related.toEcs();
  if (rel !== undefined) doc['related'] = rel;

  const parsed: Record<string, unknown> = {};
  put(parsed, 'credential_theft', jsonObjectOf(r['credentialTheft']));
  return finishEvent(r, doc, id, time, { stream: STREAM, account: ctx.account, logType: STREAM, parsed, timeMissing: missing, canonical });
}
