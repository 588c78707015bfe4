// Turns one TTP Attachment Protect log (`data[0].attachmentLogs[]` item) into an ECS output event.
import type { EcsDocument, NormalizedEvent } from '../../core/contracts.js';
import { Related, asString, hasKeys, lowerOrUndefined, put, canonicalJson, idFromCanonical } from '../../normalize/ecs.js';
import { emailParties, putEmailParties } from '../../normalize/email.js';
import { directionOf, fileFields, finishEvent, hashesOf, requireObject, stampOf } from '../../normalize/fields.js';
import { parseTime } from '../../normalize/time.js';

const STREAM = 'ttp_attachment';
const MALICIOUS: ReadonlySet<string> = new Set(['malicious', 'suspicious', 'infected', 'unsafe']);

/** "user release, none" → "user release"; "none, none" → undefined. */
function actionOf(v: unknown): string | undefined {
  const s = asString(v);
  if (s === undefined) return undefined;
  const parts = s
    .split(',')
    .map((p) => p.trim().toLowerCase())
    .filter((p) => p.length > 0 && p !== 'none');
  return parts.length > 0 ? [...new Set(parts)].join(', ') : undefined;
}

/** First non-blank line of `details` ("Safe      \r\nTime taken: ..." → "Safe"). */
function firstLine(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  for (const line of v.split(/\r\n|\r|\n/)) {
    const t = line.trim();
    if (t.length > 0) return t;
  }
  return undefined;
}

/**
 * One attachment log → event. `@timestamp` from `date`; the scanned file becomes `file.*` and
 * `email.attachments[0].file` (its `fileHash` is typed by length: sha256, sha1 or md5).
 */
export function normalizeTtpAttachment(record: unknown, ctx: { account: string; logType?: string }): NormalizedEvent {
  const r = requireObject(STREAM, record, 'TTP attachment log');
  const at = parseTime(r['date']);
  const { time, missing } = stampOf(at);
  // The canonical text serves twice: hashed for the id, and written as mimecast.* (finishEvent).
  const canonical = canonicalJson(r);
  const id = idFromCanonical(ctx.account, STREAM, canonical);
  const related = new Related();

  const verdict = lowerOrUndefined(r['result']);
  const malicious = verdict !== undefined && MALICIOUS.has(verdict);
  const event: Record<string, unknown> = {
    id,
    module: 'mimecast',
    dataset: `mimecast.${STREAM}`,
    kind: malicious ? 'alert' : 'event',
    category: malicious ? ['email', 'file', 'malware'] : ['email', 'file'],
    type: ['info'],
  };
  put(event, 'action', actionOf(r['actionTriggered']));
  put(event, 'reason', firstLine(r['details']));

  const file = fileFields({
    name: asString(r['fileName']),
    mimeType: asString(r['fileType']),
    hashes: [asString(r['fileHash'])],
  });

  const email: Record<string, unknown> = {};
  putEmailParties(email, related, emailParties(r));
  put(email, 'subject', asString(r['subject']));
  put(email, 'message_id', asString(r['messageId']));
  put(email, 'direction', directionOf(r['route']));
  if (file !== undefined) email['attachments'] = [{ file: structuredClone(file) }];
  related.addHash(hashesOf(file));

  const doc: EcsDocument = { '@timestamp': time, event };
  if (hasKeys(email)) doc['email'] = email;
  if (file !== undefined) doc['file'] = file;
  const rule = asString(r['definition']);
  if (rule !== undefined) doc['rule'] = { name: rule };
  const rel = related.toEcs();
  if (rel !== undefined) doc['related'] = rel;
  return finishEvent(r, doc, id, time, { stream: STREAM, account: ctx.account, logType: STREAM, timeMissing: missing, canonical });
}
