// Builds syslog messages: RFC 5424 or RFC 3164 header, structured data, the event's severity, size policy and framing.
import type { EcsDocument, OutEvent } from '../../core/contracts.js';
import { severityOf } from '../../normalize/severity.js';

/**
 * Syslog severity (RFC 5424: 0 emergency … 7 debug) from the CEF/LEEF severity 0–10 the renderers give the same
 * event (normalize/cef.ts `severityOf`): one rule for every format. Nothing maps above critical: emergency and alert
 * mean the collector's own host is unusable, never an email event.
 */
export function syslogSeverity(cefSeverity: number): number {
  if (cefSeverity >= 8) return 2; // critical: malware, a malicious verdict
  if (cefSeverity >= 7) return 3; // error: other alerts
  if (cefSeverity >= 6) return 4; // warning: threats blocked or held
  if (cefSeverity >= 5) return 5; // notice: failures, threat-intel entries
  return 6; // informational: everything else
}

/** The syslog severity of an event from its ECS document. */
export function severityOfDocument(doc: EcsDocument): number {
  return syslogSeverity(severityOf(doc));
}

/**
 * Words at least one of which a document must hold for `severityOf` to rate it above 3 (a malware category, an alert
 * or enrichment kind, a threat category, a failure outcome, a high verdict), or a JSON escape that could spell one.
 */
const NOT_PLAIN = /malware|alert|threat|failure|enrichment|malicious|infected|phishing|virus|\\u/i;

/**
 * The syslog severity of an event from its document's JSON text: a document holding none of the words that raise
 * the severity is informational without being parsed (most are: parsing costs more than the rest of the message).
 */
export function severityOfJson(json: string): number {
  if (!NOT_PLAIN.test(json)) return syslogSeverity(3);
  return severityOfDocument(JSON.parse(json) as EcsDocument);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)$/;

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** RFC 5424 TIMESTAMP (RFC 3339, at most microseconds) from the event's time; `-` (NILVALUE) when it has none. */
export function rfc5424Time(iso: string): string {
  if (RFC3339.test(iso)) return iso;
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : '-';
}

/** RFC 3164 TIMESTAMP `Mmm dd hh:mm:ss` (day space-padded), in UTC: the format has no zone and no year. */
export function rfc3164Time(iso: string): string {
  const ms = Date.parse(iso);
  const d = new Date(Number.isFinite(ms) ? ms : Date.now());
  const day = d.getUTCDate();
  return `${MONTHS[d.getUTCMonth()] ?? 'Jan'} ${day < 10 ? ` ${day}` : day} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
}

/** RFC 5424 PARAM-VALUE: `"`, `\` and `]` escaped with a backslash (section 6.3.3). */
export function sdEscape(v: string): string {
  return v.replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** A header field as RFC 5424 wants it: printable ASCII only (anything else becomes `_`), cut to `max`; `-` if empty. */
export function headerToken(v: string, max: number): string {
  const t = v.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return t.length > 0 ? t : '-';
}

export interface MessageOptions {
  rfc: 5424 | 3164;
  facility: number;
  hostname: string;
  appName: string;
  procId: string;
  sdId: string;
}

/**
 * A message header is built in three parts, so the middle one can be made once per kind of event: `lead` (PRI,
 * version, TIMESTAMP), `route` (what every event of one account, stream and log type shares) and `tail` (the
 * event's own id and the end of the structured data; nothing on RFC 3164).
 */
export function headerLead(o: MessageOptions, time: string, severity: number): string {
  const pri = o.facility * 8 + severity;
  return o.rfc === 3164 ? `<${pri}>${rfc3164Time(time)}` : `<${pri}>1 ${rfc5424Time(time)}`;
}

/** RFC 5424: from the space after TIMESTAMP to the opening quote of event_id's value; RFC 3164: up to MSG. */
export function headerRoute(o: MessageOptions, e: Pick<OutEvent, 'account' | 'stream' | 'logType'>): string {
  if (o.rfc === 3164) return ` ${o.hostname} ${o.appName.slice(0, 32)}[${o.procId}]: `;
  const msgId = headerToken(e.logType || e.stream, 32);
  const logType = e.logType === '' ? '' : ` log_type="${sdEscape(e.logType)}"`;
  return ` ${o.hostname} ${o.appName} ${o.procId} ${msgId} [${o.sdId} account="${sdEscape(e.account)}" stream="${sdEscape(e.stream)}"${logType} event_id="`;
}

/** What follows the route part: the event id and the end of the structured data (RFC 5424), up to MSG. */
export function headerTail(o: MessageOptions, id: string): string {
  return o.rfc === 3164 ? '' : `${sdEscape(id)}"] `;
}

/**
 * The longest prefix of `buf` of at most `max` bytes that does not end inside a UTF-8 sequence: a truncated
 * message stays valid UTF-8.
 */
export function utf8Prefix(buf: Buffer, max: number): number {
  if (buf.length <= max) return buf.length;
  let end = max;
  // Step back over continuation bytes (10xxxxxx) to the start of the character the cut falls in.
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return end;
}

/**
 * Ends the LF-framed message `buf[start, end)` with a LF (written at `end`) and returns the end after it. A line
 * break inside the message would end it early: none of the formats writes one (JSON, CEF and LEEF escape or replace
 * them), and any CR or LF that still got there becomes a space.
 */
export function endLine(buf: Buffer, start: number, end: number): number {
  for (let i = buf.indexOf(0x0a, start); i >= 0 && i < end; i = buf.indexOf(0x0a, i + 1)) buf[i] = 0x20;
  for (let i = buf.indexOf(0x0d, start); i >= 0 && i < end; i = buf.indexOf(0x0d, i + 1)) buf[i] = 0x20;
  buf[end] = 0x0a;
  return end + 1;
}
