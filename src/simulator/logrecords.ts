// Deterministic records of the 1.0-style log functions (TTP, audit, DLP, release, archive search, threat intel).
import { fmtUtc } from './http.js';
import type { LogStreamName } from './logstore.js';
import { Rng } from './prng.js';

export type Rec = Record<string, unknown>;

const INTERNAL = ['amy', 'bob', 'carol', 'dave', 'erin', 'finance', 'ops', 'ceo', 'cfo', 'jörg.müller', "o'brien"];
const INTERNAL_DOMAIN = 'corp.example';
const EXTERNAL = ['alerts@vendor.example', 'docs@bad.example', 'news@list.example', 'x@partner.example', 'pay@newdomain.example', 'deals@shop.example', '<>'];
const SUBJECTS = ['Sign document', 'Weekly digest', 'Invoice 4411', 'Updated bank details', 'Q1 numbers', 'Urgent wire', 'Check this', 'Réunion — budget', 'Line one\r\nLine two', 'RE: report | Q3'];
const URL_CATEGORIES = ['Phishing & Fraud', 'Malware', 'Compromised', 'News', 'Business', 'Unknown'];

function internal(r: Rng): string {
  return `${r.pick(INTERNAL)}@${INTERNAL_DOMAIN}`;
}

function ip(r: Rng): string {
  return `${r.pick(['198.51.100', '203.0.113', '192.0.2'])}.${r.range(1, 254)}`;
}

function msgId(r: Rng, domain: string): string {
  return `<${r.token(12)}@${domain}>`;
}

function domainOf(addr: string): string {
  const at = addr.indexOf('@');
  return at < 0 ? 'unknown.example' : addr.slice(at + 1);
}

function ttpUrl(r: Rng, t: number): Rec {
  const route = r.pick(['inbound', 'inbound', 'inbound', 'outbound', 'internal']);
  const malicious = r.chance(0.3);
  const sender = route === 'inbound' ? r.pick(EXTERNAL.slice(0, 6)) : internal(r);
  const action = malicious ? r.pick(['block', 'warn']) : 'allow';
  const rec: Rec = {
    userEmailAddress: internal(r),
    fromUserEmailAddress: sender,
    url: `${r.pick(['http', 'https'])}://${r.pick(['login.bad.example', 'news.example', 'old.example', 'cdn.partner.example'])}/${r.token(6)}?q=${r.range(1, 999)}`,
    ttpDefinition: route === 'internal' ? 'Default Internal URL Protect Definition' : 'Default Inbound URL Protect Definition',
    subject: r.pick(SUBJECTS),
    action,
    adminOverride: 'N/A',
    userOverride: 'None',
    scanResult: malicious ? 'malicious' : 'clean',
    category: malicious ? r.pick(URL_CATEGORIES.slice(0, 3)) : r.pick(URL_CATEGORIES.slice(3)),
    sendingIp: route === 'inbound' ? ip(r) : 'Internal IP',
    userAwarenessAction: r.pick(['N/A', 'Continue']),
    date: fmtUtc(t),
    actions: action === 'block' ? 'Block' : action === 'allow' ? 'Allow' : r.pick(['None', 'Browser Isolation']),
    route,
    creationMethod: r.pick(['User Click', 'Entry Scan']),
    emailPartsDescription: [r.chance(0.8) ? 'Body' : 'Attachment'],
    messageId: msgId(r, domainOf(sender)),
  };
  if (r.chance(0.3)) {
    rec['tagMap'] = { UrlReputationScan: { Status: ['CustomerAll', malicious ? 'VerdictBlock' : 'VerdictAllow'], Type: [rec['category']] } };
  }
  return rec;
}

function ttpAttachment(r: Rng, t: number): Rec {
  const malicious = r.chance(0.25);
  const file = r.pick([
    ['invoice-4411.pdf', 'application/pdf'],
    ['q1.xlsm', 'application/vnd.ms-excel.sheet.macroEnabled.12'],
    ['datasheet.pdf', 'application/pdf'],
    ['report "final".docx', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'],
  ] as const);
  const sender = r.pick(EXTERNAL);
  return {
    senderAddress: sender,
    recipientAddress: internal(r),
    fileName: file[0],
    fileType: file[1],
    result: malicious ? 'malicious' : r.pick(['safe', 'safe', 'timeout']),
    actionTriggered: r.pick(['none, none', 'none', 'user release, none']),
    date: fmtUtc(t),
    details: `${malicious ? 'Malicious' : 'Safe'}\r\nTime taken: 0 hrs, 0 min, ${r.range(1, 59)} sec`,
    route: 'inbound',
    messageId: msgId(r, domainOf(sender)),
    subject: r.pick(SUBJECTS),
    fileHash: r.hex(64),
    definition: r.pick(['Default Inbound Attachment Protect Definition', 'Inbound - Safe file with On-Demand Sandbox']),
  };
}

const IDENTIFIERS = ['similar_internal_domain', 'internal_user_name', 'newly_observed_domain', 'reply_address_mismatch', 'targeted_threat_dictionary'];

function ttpImpersonation(r: Rng, t: number): Rec {
  const hits = r.range(1, 3);
  const ids: string[] = [];
  for (let k = 0; k < hits; k++) {
    const id = r.pick(IDENTIFIERS);
    if (!ids.includes(id)) ids.push(id);
  }
  const sender = `${r.pick(['ceo.name', 'pay', 'it-support'])}@${r.pick(['c0rp.example', 'newdomain.example'])}`;
  return {
    id: `MTOKEN:eNqr${r.token(48)}`,
    senderAddress: sender,
    recipientAddress: internal(r),
    subject: r.pick(SUBJECTS),
    definition: r.pick(['Default Impersonation Definition', 'IP - 1 hit (Tag email)']),
    hits: ids.length,
    identifiers: ids,
    action: r.pick(['hold', 'none', 'bounce']),
    taggedExternal: r.chance(0.5),
    taggedMalicious: r.chance(0.7),
    senderIpAddress: ip(r),
    eventTime: fmtUtc(t),
    impersonationResults: ids.map((id) => ({
      impersonationDomainSource: id,
      similarDomain: domainOf(sender),
      stringSimilarToDomain: id === 'newly_observed_domain' ? '' : INTERNAL_DOMAIN,
      checkerResult: 'hit',
    })),
    messageId: msgId(r, domainOf(sender)),
  };
}

const AUDIT_TYPES = [
  ['User Logged On', 'authentication_logs'],
  ['Logon Authentication Failed', 'authentication_logs'],
  ['API Application Updated', 'account_logs'],
  ['Threat Intel Feed Download', 'reporting_logs'],
  ['Search Action', 'case_review_logs'],
] as const;

function audit(r: Rng, t: number): Rec {
  const [auditType, category] = r.pick(AUDIT_TYPES);
  const user = r.chance(0.3) ? `svc-siem@${INTERNAL_DOMAIN}` : internal(r);
  const day = fmtUtc(t).slice(0, 10);
  const time = fmtUtc(t).slice(11, 19);
  const zone = r.chance(0.3) ? ' GMT' : '+0000';
  return {
    id: `eNqrVipOTS4tSs1MUbJS${r.token(40)}`,
    auditType,
    user,
    eventTime: fmtUtc(t),
    eventInfo: `${auditType} for ${user}, Date: ${day}, Time: ${time}${zone}, IP: ${ip(r)}, Application: ${r.pick(['Administration Console', 'Mimecast Personal Portal', 'Integrations'])}`,
    category,
  };
}

function dlp(r: Rng, t: number): Rec {
  const sender = internal(r);
  return {
    senderAddress: sender,
    recipientAddress: r.pick(EXTERNAL.slice(0, 6)),
    subject: r.pick(SUBJECTS),
    eventTime: fmtUtc(t),
    route: r.pick(['outbound', 'internal']),
    policy: r.pick(['Credit card numbers', 'Confidential keyword', 'Source code']),
    action: r.pick(['hold', 'notification', 'bounce', 'smart_folder']),
    messageId: msgId(r, INTERNAL_DOMAIN),
  };
}

function heldRelease(r: Rng, t: number): Rec {
  const released = r.chance(0.7);
  const from = r.pick(EXTERNAL.slice(0, 6));
  const rec: Rec = {
    id: `eNo1jrsKwjAU${r.token(36)}`,
    status: released ? 'released' : 'rejected',
    heldReason: r.pick(['Spam', 'Policy', 'Attachment']),
    messageInfo: r.pick(['Message held by policy', 'Spam signature']),
    released: fmtUtc(t),
    operator: { emailAddress: `admin@${INTERNAL_DOMAIN}` },
    fromEnv: { emailAddress: from },
    fromHdr: { emailAddress: from },
    to: [{ emailAddress: internal(r) }],
    subject: r.pick(SUBJECTS),
    attachments: r.chance(0.3),
    route: 'inbound',
    size: r.range(1000, 900_000),
    policy: r.pick(['Spam Scanning', 'Attachment Management']),
    spamScore: r.range(0, 30),
    detectionLevel: r.pick(['relaxed', 'moderate', 'aggressive']),
    spamProcessingDetail: {
      rbl: { allow: true, info: '' },
      greyEmail: r.chance(0.1),
      spf: { allow: true, info: 'SPF_PASS' },
      dkim: { allow: true, info: 'DKIM_UNKNOWN' },
      dmarc: { allow: true, info: 'DMARC_PASS' },
      permittedSender: { allow: false, info: 'NONE' },
      managedSender: { allow: false, info: 'NONE' },
      verdict: { decision: released ? 'ALLOW' : 'REJECT', risk: r.pick(['low', 'high']), categories: ['spam'] },
    },
  };
  if (!released) rec['rejectReason'] = r.pick(['Spam', 'Phishing', 'Policy violation']);
  return rec;
}

function archiveSearch(r: Rng, t: number): Rec {
  return {
    createTime: fmtUtc(t),
    emailAddr: r.chance(0.5) ? `admin@${INTERNAL_DOMAIN}` : internal(r),
    source: r.pick(['archive', 'Admin Console', 'Mimecast Personal Portal']),
    searchText: r.pick(['invoice', 'from:ceo', '', 'subject:"wire | transfer"']),
    searchReason: r.pick(['', 'Legal request', 'Support case 4411']),
    description: r.pick(['Search via archive', 'Message view', 'Saved search run']),
    isAdmin: r.chance(0.6),
  };
}

function stixTime(t: number): string {
  return new Date(t).toISOString();
}

/** One STIX 2 object per record: mostly indicators, with the malware they indicate. */
function threatIntel(r: Rng, t: number, feed: string): Rec {
  const sha = r.hex(64);
  const kind = r.int(10);
  const created = stixTime(t);
  if (kind === 0) {
    return { type: 'malware', id: `malware--${uuid(r)}`, created, modified: created, name: r.pick(['Emotet', 'Qakbot', 'AgentTesla']), labels: ['trojan'], x_mimecast_feed: feed };
  }
  return {
    type: 'indicator',
    id: `indicator--${uuid(r)}`,
    created,
    modified: created,
    labels: ['malicious-activity'],
    name: sha,
    pattern: `[file:hashes.'SHA-256' = '${sha}']`,
    valid_from: created,
    x_mimecast_feed: feed,
  };
}

function uuid(r: Rng): string {
  const h = r.hex(32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
}

/** Which threat-intel feed record i belongs to (both feeds draw from one record sequence). */
export function feedOf(seed: number): 'malware_customer' | 'malware_grid' {
  return seed % 3 === 0 ? 'malware_grid' : 'malware_customer';
}

/** The record of a 1.0-style log stream (siem_v1 is built elsewhere). */
export function logRecord(stream: Exclude<LogStreamName, 'siem_v1'>, seed: number, t: number): Rec {
  const r = new Rng(seed);
  switch (stream) {
    case 'ttp_url':
      return ttpUrl(r, t);
    case 'ttp_attachment':
      return ttpAttachment(r, t);
    case 'ttp_impersonation':
      return ttpImpersonation(r, t);
    case 'audit':
      return audit(r, t);
    case 'dlp':
      return dlp(r, t);
    case 'held_release':
      return heldRelease(r, t);
    case 'archive_search':
      return archiveSearch(r, t);
    case 'threat_intel':
      return threatIntel(r, t, feedOf(seed));
  }
}
