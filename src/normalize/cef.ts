// Renders an output document as one ArcSight CEF line (the fields LEEF shares with it too).
import type { EcsDocument } from '../core/contracts.js';
import { pick, text } from './ecs.js';
import { severityOf } from './severity.js';

export const DEVICE_VENDOR = 'Mimecast';
export const DEVICE_PRODUCT = 'Email Security';
/** Version of the CEF/LEEF mapping (bump when a key's meaning changes), sent as the device version. */
export const DEVICE_VERSION = '1.0';

function firstText(doc: EcsDocument, ...paths: string[]): string | undefined {
  for (const p of paths) {
    const v = pick(doc, p);
    const s = Array.isArray(v) ? text(v[0]) : text(v);
    if (s !== undefined) return s;
  }
  return undefined;
}

/** `stream:log_type`: the signature / event id both formats use. */
export function signatureOf(doc: EcsDocument): string {
  return `${text(pick(doc, 'mimecast.stream')) ?? 'unknown'}:${text(pick(doc, 'mimecast.log_type')) ?? 'unknown'}`;
}

/** Human-readable event name: "receipt accept", "audit user_logged_on", or just the log type. */
export function nameOf(doc: EcsDocument): string {
  const logType = text(pick(doc, 'mimecast.log_type')) ?? text(pick(doc, 'mimecast.stream')) ?? 'event';
  const action = text(pick(doc, 'event.action'));
  return action === undefined ? logType : `${logType} ${action}`;
}

/** CEF header field: backslash and pipe escaped; line breaks (never allowed in a header) become spaces. */
export function cefHeader(v: string): string {
  return v.replace(/[\\|]/g, (c) => `\\${c}`).replace(/\r\n|[\r\n]/g, ' ');
}

/** CEF extension value: backslash and equals escaped, CR LF / LF → `\n`, lone CR → `\r`. Pipes stay as they are. */
export function cefValue(v: string): string {
  return v
    .replace(/[\\=]/g, (c) => `\\${c}`)
    .replace(/\r\n|\n/g, '\\n')
    .replace(/\r/g, '\\r');
}

/** The extension pairs in a stable order; values unescaped. */
export function cefExtension(doc: EcsDocument): [string, string][] {
  const pairs: [string, string][] = [];
  const add = (key: string, v: string | undefined): void => {
    if (v !== undefined && v.length > 0) pairs.push([key, v]);
  };
  const ts = text(doc['@timestamp']);
  const ms = ts === undefined ? Number.NaN : Date.parse(ts);
  add('rt', Number.isFinite(ms) ? String(ms) : undefined);
  add('externalId', text(pick(doc, 'event.id')));
  add('cat', text(pick(doc, 'event.category')));
  add('act', text(pick(doc, 'event.action')));
  add('outcome', text(pick(doc, 'event.outcome')));
  add('reason', text(pick(doc, 'event.reason')));
  add('src', text(pick(doc, 'source.ip')));
  add('dst', text(pick(doc, 'destination.ip')));
  add('suser', firstText(doc, 'email.from.address', 'user.email', 'user.name'));
  add('duser', text(pick(doc, 'email.to.address')));
  add('msg', firstText(doc, 'email.subject', 'message', 'event.reason'));
  add('fname', firstText(doc, 'file.name', 'threat.indicator.file.name'));
  add('fileHash', firstText(doc, 'file.hash.sha256', 'file.hash.sha1', 'file.hash.md5', 'threat.indicator.file.hash.sha256', 'threat.indicator.file.hash.sha1', 'threat.indicator.file.hash.md5'));
  add('fsize', text(pick(doc, 'file.size')));
  add('request', firstText(doc, 'url.original', 'threat.indicator.url.original'));
  add('cs1Label', 'mimecastAccount');
  add('cs1', text(pick(doc, 'mimecast.account')));
  add('cs2Label', 'logType');
  add('cs2', text(pick(doc, 'mimecast.log_type')));
  const messageId = text(pick(doc, 'email.message_id'));
  if (messageId !== undefined) {
    add('cs3Label', 'messageId');
    add('cs3', messageId);
  }
  const rule = text(pick(doc, 'rule.name'));
  if (rule !== undefined) {
    add('cs4Label', 'ruleName');
    add('cs4', rule);
  }
  const direction = text(pick(doc, 'email.direction'));
  if (direction !== undefined) {
    add('cs5Label', 'direction');
    add('cs5', direction);
  }
  const indicatorType = text(pick(doc, 'threat.indicator.type'));
  if (indicatorType !== undefined) {
    add('cs6Label', 'indicatorType');
    add('cs6', indicatorType);
  }
  return pairs;
}

/**
 * One CEF line (no trailing newline):
 * `CEF:0|Mimecast|Email Security|1.0|<stream:log_type>|<name>|<severity>|<extension>`.
 */
export function toCef(doc: EcsDocument): string {
  const header = [DEVICE_VENDOR, DEVICE_PRODUCT, DEVICE_VERSION, signatureOf(doc), nameOf(doc), String(severityOf(doc))].map(cefHeader).join('|');
  const ext = cefExtension(doc)
    .map(([k, v]) => `${k}=${cefValue(v)}`)
    .join(' ');
  return `CEF:0|${header}|${ext}`;
}
