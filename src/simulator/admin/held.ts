// Held messages: get-hold-message-list, get-hold-summary-list and hold-release (a release leaves the list and enters the held_release stream).
import type { RouteTable } from '../core/routes.js';
import { HttpReply, fmtUtc, isObject, parseRequestDate } from '../http.js';
import { audit, directoryOf, operatorOf, type HeldMessage } from './directory.js';
import { failOne, failure, type Item, ItemFailure, itemFunction, ok, optionalBool, paginate, readAdmin, required, SIM_ONLY } from './envelope.js';

const SEARCH_FIELDS = ['all', 'subject', 'sender', 'recipient', 'reason_code', 'reasonCode', 'senderIP'] as const;

function row(h: HeldMessage): Record<string, unknown> {
  return {
    id: h.id,
    reason: h.reason,
    reasonId: h.reasonCode.toUpperCase(),
    reasonCode: h.reasonCode,
    from: { emailAddress: h.from, displayableName: '' },
    fromHeader: { emailAddress: h.from, displayableName: h.fromName },
    to: { emailAddress: h.to, displayableName: h.toName },
    toHeader: { emailAddress: h.to, displayableName: h.toName },
    subject: h.subject,
    route: h.route,
    hasAttachments: h.hasAttachments,
    size: h.size,
    dateReceived: fmtUtc(h.dateReceived),
    policyInfo: h.policyInfo,
  };
}

function matches(h: HeldMessage, field: string, value: string): boolean {
  const v = value.toLowerCase();
  const has = (s: string): boolean => s.toLowerCase().includes(v);
  switch (field) {
    case 'subject':
      return has(h.subject);
    case 'sender':
      return has(h.from);
    case 'recipient':
      return has(h.to);
    case 'reason_code':
    case 'reasonCode':
      return has(h.reasonCode);
    case 'senderIP':
      return h.senderIP === value;
    default:
      return has(h.subject) || has(h.from) || has(h.to) || has(h.reasonCode);
  }
}

/** A date field: absent is undefined, unparsable an `err_validation_invalid_date` failure. */
function dateOf(item: Item, field: string): number | undefined | ItemFailure {
  const v = item[field];
  if (v === undefined || v === null || v === '') return undefined;
  const ms = typeof v === 'string' ? parseRequestDate(v) : undefined;
  return ms ?? failure('err_validation_invalid_date', `${field} must be a date like 2011-12-03T10:15:30+0000`, field);
}

export function registerHeld(routes: RouteTable): void {
  routes.add(
    {
      method: 'POST',
      path: '/api/gateway/get-hold-message-list',
      counter: 'api',
      v1: true,
      handler: async (ctx, req, url) => {
        const r = await readAdmin(ctx, req, url.pathname, 1);
        if (r instanceof HttpReply) return r;
        const item: Item = r.items[0] ?? {};
        const admin = optionalBool(item, 'admin');
        if (admin instanceof ItemFailure) return failOne(r, item, admin);
        const start = dateOf(item, 'start');
        if (start instanceof ItemFailure) return failOne(r, item, start);
        const end = dateOf(item, 'end');
        if (end instanceof ItemFailure) return failOne(r, item, end);
        let list = directoryOf(ctx).held.filter((h) => !h.released && (start === undefined || h.dateReceived >= start) && (end === undefined || h.dateReceived <= end));
        // Without admin, only the caller's own held mail: the API caller has none.
        if (admin !== true) list = [];
        const searchBy = item['searchBy'];
        if (isObject(searchBy)) {
          const field = typeof searchBy['fieldName'] === 'string' ? searchBy['fieldName'] : 'all';
          if (!(SEARCH_FIELDS as readonly string[]).includes(field)) return failOne(r, item, failure('err_validation_invalid_value', `searchBy.fieldName must be one of ${SEARCH_FIELDS.join(', ')}`, 'fieldName'));
          const value = typeof searchBy['value'] === 'string' ? searchBy['value'] : '';
          if (value !== '') list = list.filter((h) => matches(h, field, value));
        }
        const p = paginate(ctx, r, `held:${admin === true ? 1 : 0}:${start ?? ''}:${end ?? ''}`, list);
        if (p instanceof ItemFailure) return failOne(r, item, p);
        return ok(p.page.map(row), [], r.headers, p.pagination);
      },
    },
    {
      method: 'POST',
      path: '/api/gateway/get-hold-summary-list',
      counter: 'api',
      v1: true,
      handler: async (ctx, req, url) => {
        const r = await readAdmin(ctx, req, url.pathname, 1);
        if (r instanceof HttpReply) return r;
        const counts = new Map<string, number>();
        for (const h of directoryOf(ctx).held) if (!h.released) counts.set(h.policyInfo, (counts.get(h.policyInfo) ?? 0) + 1);
        return ok([...counts].map(([policyInfo, numberOfItems]) => ({ policyInfo, numberOfItems })), [], r.headers);
      },
    },
    itemFunction('/api/gateway/hold-release', 25, async (item, dir, ctx, r) => {
      const id = required(item, 'id');
      if (id instanceof ItemFailure) return id;
      const h = dir.held.find((m) => m.id === id);
      if (h === undefined) return failure('err_hold_message_not_found', `${SIM_ONLY} No held message with this id`, 'id');
      if (h.released) return failure('err_hold_message_already_released', `${SIM_ONLY} The message has already been released`, 'id');
      h.released = true;
      const tracked = dir.tracked.find((t) => t.status === 'held' && t.received === h.dateReceived && t.subject === h.subject && t.to === h.to);
      if (tracked !== undefined) tracked.status = 'released';
      const operator = operatorOf(r.owner);
      await ctx.account.appendRecord('held_release', (t) => ({
        id: h.id,
        status: 'released',
        heldReason: h.reason,
        messageInfo: h.policyInfo,
        released: fmtUtc(t),
        operator: { emailAddress: operator },
        fromEnv: { emailAddress: h.from },
        fromHdr: { emailAddress: h.from, displayableName: h.fromName },
        to: [{ emailAddress: h.to, displayableName: h.toName }],
        subject: h.subject,
        attachments: h.hasAttachments,
        route: h.route.toLowerCase(),
        size: h.size,
        policy: h.policyInfo,
      }));
      await audit(ctx, r.owner, 'Held Message Released', 'account_logs', `released held message "${h.subject}" to ${h.to}`);
      return { id: h.id, release: true };
    }),
  );
}
