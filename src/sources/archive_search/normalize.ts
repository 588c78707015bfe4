// Turns one archive search log (`data[0].logs[]` item) into an ECS output event.
import type { EcsDocument, NormalizedEvent } from '../../core/contracts.js';
import { Related, asString, put, splitAddresses, canonicalJson, idFromCanonical } from '../../normalize/ecs.js';
import { finishEvent, requireObject, stampOf } from '../../normalize/fields.js';
import { parseTime } from '../../normalize/time.js';

const STREAM = 'archive_search';

/**
 * One archive search log → event: who searched (`user.*` from `emailAddr`), when (`createTime`),
 * and what (`message` is the description; the search text stays in `mimecast.searchText`).
 */
export function normalizeArchiveSearch(record: unknown, ctx: { account: string; logType?: string }): NormalizedEvent {
  const r = requireObject(STREAM, record, 'archive search log');
  const at = parseTime(r['createTime']);
  const { time, missing } = stampOf(at);
  // The canonical text serves twice: hashed for the id, and written as mimecast.* (finishEvent).
  const canonical = canonicalJson(r);
  const id = idFromCanonical(ctx.account, STREAM, canonical);
  const related = new Related();

  const event: Record<string, unknown> = {
    id,
    module: 'mimecast',
    dataset: `mimecast.${STREAM}`,
    kind: 'event',
    category: ['email'],
    type: ['access', 'info'],
    action: 'search',
  };
  put(event, 'reason', asString(r['searchReason']));

  const doc: EcsDocument = { '@timestamp': time, event };
  // "<>" and blanks are no user; splitAddresses drops both.
  const user = splitAddresses(r['emailAddr'])[0];
  if (user !== undefined) {
    doc['user'] = user.includes('@') ? { name: user, email: user } : { name: user };
    related.addUser(user);
  }
  put(doc, 'message', asString(r['description']));
  const rel = related.toEcs();
  if (rel !== undefined) doc['related'] = rel;
  return finishEvent(r, doc, id, time, { stream: STREAM, account: ctx.account, logType: STREAM, timeMissing: missing, canonical });
}
