// `POST /api/message-finder/search` (formerly tracking): tracked mail by from/to/subject/senderIP/route or messageId, within 30 days.
import type { RouteTable } from '../core/routes.js';
import { HttpReply, fmtUtc, isObject, parseRequestDate } from '../http.js';
import { directoryOf, type TrackedEmail } from './directory.js';
import { failItem, failure, ok, readAdmin, type Item } from './envelope.js';

const DAY = 86_400_000;
const FILTERS = ['from', 'to', 'subject', 'senderIP', 'route'] as const;

function row(t: TrackedEmail): Record<string, unknown> {
  return {
    id: t.id,
    status: t.status,
    info: t.status === 'delivered' ? 'Delivered' : t.status === 'held' ? 'Held for review' : t.status[0]?.toUpperCase() + t.status.slice(1),
    fromEnv: { emailAddress: t.from },
    fromHdr: { displayableName: t.fromName, emailAddress: t.from },
    to: [{ displayableName: '', emailAddress: t.to }],
    received: fmtUtc(t.received),
    sent: fmtUtc(t.received - 2000),
    subject: t.subject,
    senderIP: t.senderIP,
    attachments: t.attachments,
    route: t.route,
    spamScore: t.spamScore,
    detectionLevel: 'relaxed',
  };
}

export function registerSearch(routes: RouteTable): void {
  routes.add({
    method: 'POST',
    path: '/api/message-finder/search',
    counter: 'api',
    v1: true,
    handler: async (ctx, req, url) => {
      const r = await readAdmin(ctx, req, url.pathname, 1);
      if (r instanceof HttpReply) return r;
      const item: Item = r.items[0] ?? {};
      const adv = isObject(item['advancedTrackAndTraceOptions']) ? item['advancedTrackAndTraceOptions'] : {};
      // start/end/messageId at data[0] level (the 1.0 page) or inside the advanced options (the 2.0 collection).
      const pick = (k: string): unknown => item[k] ?? adv[k];
      const fail = (code: string, message: string, field: string): HttpReply => ok([], [failItem(item, failure(code, message, field).error)], r.headers);
      const now = Date.now();
      const bound = (k: string, dflt: number): number | HttpReply => {
        const v = pick(k);
        if (v === undefined || v === null || v === '') return dflt;
        return (typeof v === 'string' ? parseRequestDate(v) : undefined) ?? fail('err_validation_invalid_date', `${k} must be a date like 2011-12-03T10:15:30+0000`, k);
      };
      const start = bound('start', now - DAY);
      if (start instanceof HttpReply) return start;
      const end = bound('end', now);
      if (end instanceof HttpReply) return end;
      if (start < now - 30 * DAY) return fail('err_track_and_trace_invalid_start_date', 'The start date must be within the last 30 days', 'start');
      const messageId = pick('messageId');
      const filters = FILTERS.map((k) => [k, adv[k]] as const).filter((kv): kv is readonly [(typeof FILTERS)[number], string] => typeof kv[1] === 'string' && kv[1] !== '');
      const hasId = typeof messageId === 'string' && messageId !== '';
      if (hasId === filters.length > 0) {
        return fail(hasId ? 'err_validation_invalid_value' : 'err_validation_null', 'give either messageId or advancedTrackAndTraceOptions filters, not both', 'advancedTrackAndTraceOptions');
      }
      const list = directoryOf(ctx).tracked.filter((t) => {
        if (t.received < start || t.received > end) return false;
        if (hasId) return t.id === messageId;
        return filters.every(([k, v]) => {
          const want = v.toLowerCase();
          if (k === 'route') return t.route === want;
          if (k === 'senderIP') return t.senderIP === v;
          const have = k === 'from' ? t.from : k === 'to' ? t.to : t.subject;
          return have.toLowerCase().includes(want);
        });
      });
      return ok([{ trackedEmails: list.map(row) }], [], r.headers);
    },
  });
}
