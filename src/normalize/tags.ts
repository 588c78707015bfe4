// ECS `tags` the collector puts on an event to say something about how it was read (documented in README "Output").
import { SerializedEvent, type NormalizedEvent } from '../core/contracts.js';

/**
 * The record's bytes were not valid UTF-8: each invalid sequence was replaced by U+FFFD (the event is kept, and its
 * `event.id` is computed from the replaced text, so a re-read gives the same id).
 */
export const TAG_INVALID_UTF8 = 'mimecast_invalid_utf8';

/**
 * The record had no usable time of its own (none of the time keys its stream uses held a date): `@timestamp` and
 * `event.created` are the time the collector read it. The record is kept whole under `mimecast.*`.
 */
export const TAG_TIME_MISSING = 'mimecast_time_missing';

/**
 * The event with `tag` added to its ECS `tags` (kept once; other tags kept). Rare by design (it re-serialises the
 * document), so it stays off the path ordinary events take.
 */
export function withTag(event: NormalizedEvent, tag: string): NormalizedEvent {
  const doc = event.json !== undefined ? (JSON.parse(event.json) as Record<string, unknown>) : { ...event.doc };
  const tags = Array.isArray(doc['tags']) ? (doc['tags'] as unknown[]).filter((t): t is string => typeof t === 'string') : [];
  if (!tags.includes(tag)) tags.push(tag);
  doc['tags'] = tags;
  return new SerializedEvent(event.id, event.stream, event.account, event.time, JSON.stringify(doc), event.timeMissing === true, event.logType, event.severity);
}
