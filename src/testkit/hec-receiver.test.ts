// The HEC receiver answers as Splunk's documentation says, over real HTTP on loopback.
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { countById, duplicateIds, eventIdOf, newChannel, startHecReceiver, type HecReceiver, type HecReceiverOptions } from './hec-receiver.js';

const TOKEN = 'test-hec-token';
const AUTH = { authorization: `Splunk ${TOKEN}` };

let hec: HecReceiver | undefined;
afterEach(async () => {
  await hec?.close();
  hec = undefined;
});

async function start(opts: HecReceiverOptions = {}): Promise<HecReceiver> {
  hec = await startHecReceiver(opts);
  return hec;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function call(
  r: HecReceiver,
  path: string,
  body: string | Buffer | undefined,
  headers: Record<string, string> = AUTH,
  method: 'GET' | 'POST' = 'POST',
): Promise<Answer> {
  const res = await request(`${r.url}${path}`, { method, headers, body: body ?? null });
  const text = await res.body.text();
  return { status: res.statusCode, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

const post = (r: HecReceiver, body: string | Buffer, headers: Record<string, string> = AUTH): Promise<Answer> =>
  call(r, '/services/collector/event', body, headers);

const ecs = (id: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ event: { '@timestamp': '2024-01-01T00:00:00Z', event: { id }, message: `m-${id}` }, ...extra });

describe('HEC receiver: events', () => {
  it('indexes concatenated event objects (whitespace between) with their envelopes and answers Success', async () => {
    const r = await start();
    const body = `${ecs('a', { time: 1704067200.123, host: 'h1', source: 'mimecast', sourcetype: 'mimecast:siem', index: 'main', fields: { stream: 'siem', n: 1 } })}\n  ${ecs('b')}${ecs('c')}`;
    const got = await post(r, body);
    expect(got).toEqual({ status: 200, body: { text: 'Success', code: 0 } });
    expect(r.events.map(eventIdOf)).toEqual(['a', 'b', 'c']);
    const first = r.events[0];
    expect(first).toMatchObject({ time: 1704067200.123, host: 'h1', source: 'mimecast', sourcetype: 'mimecast:siem', index: 'main', fields: { stream: 'siem', n: 1 } });
    expect(first?.channel).toBeUndefined();
    expect(r.countRequests('event', 200)).toBe(1);
    expect(r.requests[0]).toMatchObject({ endpoint: 'event', status: 200, code: 0, indexed: 3 });
  });

  it('the /services/collector and /event/1.0 paths are the event endpoint too', async () => {
    const r = await start();
    expect((await call(r, '/services/collector', ecs('a'))).status).toBe(200);
    expect((await call(r, '/services/collector/event/1.0', ecs('b'))).status).toBe(200);
    expect(r.events).toHaveLength(2);
    expect((await call(r, '/services/collector/raw', 'x')).status).toBe(404);
  });

  it('an event without `event` is code 12 at its position; the events before it are indexed', async () => {
    const r = await start();
    const got = await post(r, `${ecs('a')}${ecs('b')}{"time":1}${ecs('d')}`);
    expect(got).toEqual({ status: 400, body: { text: 'Event field is required', code: 12, 'invalid-event-number': 2 } });
    expect(r.events.map(eventIdOf)).toEqual(['a', 'b']);
  });

  it('a blank event is code 13, and bad JSON, a non-object or a cut-off object is code 6, each with its number', async () => {
    const r = await start();
    expect((await post(r, `${ecs('a')}{"event":""}`)).body).toEqual({ text: 'Event field cannot be blank', code: 13, 'invalid-event-number': 1 });
    expect((await post(r, `{"event":null}`)).body).toMatchObject({ code: 13, 'invalid-event-number': 0 });
    expect((await post(r, `${ecs('b')}{"event":"x",}`)).body).toEqual({ text: 'Invalid data format', code: 6, 'invalid-event-number': 1 });
    expect((await post(r, `[${ecs('c')}]`)).body).toMatchObject({ code: 6, 'invalid-event-number': 0 });
    expect((await post(r, `${ecs('d')}${ecs('e')}{"event":"cut`)).body).toMatchObject({ code: 6, 'invalid-event-number': 2 });
    expect((await post(r, `${ecs('f')}{"event":"x","time":"soon"}`)).body).toMatchObject({ code: 6, 'invalid-event-number': 1 });
    expect(r.events.map(eventIdOf)).toEqual(['a', 'b', 'd', 'e', 'f']);
  });

  it('strings holding braces and escaped quotes do not confuse the splitter', async () => {
    const r = await start();
    const tricky = JSON.stringify({ event: { event: { id: 'x' }, message: 'a } { "b\\" [' } });
    expect((await post(r, `${tricky}${ecs('y')}`)).status).toBe(200);
    expect(r.events.map(eventIdOf)).toEqual(['x', 'y']);
    expect(r.events[0]?.event).toEqual({ event: { id: 'x' }, message: 'a } { "b\\" [' });
  });

  it('an empty body is code 5 "No data"', async () => {
    const r = await start();
    expect(await post(r, '  \n')).toEqual({ status: 400, body: { text: 'No data', code: 5 } });
  });

  it('nested indexed fields are code 15 and an index outside the allowed ones is code 7', async () => {
    const r = await start({ allowedIndexes: ['mimecast'] });
    expect((await post(r, ecs('a', { fields: { nested: { x: 1 } } }))).body).toEqual({ text: 'Error in handling indexed fields', code: 15, 'invalid-event-number': 0 });
    expect((await post(r, `${ecs('b', { index: 'mimecast' })}${ecs('c', { index: 'main' })}`)).body).toEqual({ text: 'Incorrect index', code: 7, 'invalid-event-number': 1 });
    expect(r.events.map(eventIdOf)).toEqual(['b']);
  });

  it('reads gzip bodies and refuses a body over maxBodyBytes with 413, indexing nothing', async () => {
    const r = await start({ maxBodyBytes: 2_000 });
    const many = Array.from({ length: 40 }, (_, i) => ecs(`g${i}`)).join('');
    expect(Buffer.byteLength(many)).toBeGreaterThan(2_000);
    const zipped = gzipSync(many);
    expect(zipped.length).toBeLessThan(2_000);
    expect((await post(r, zipped, { ...AUTH, 'content-encoding': 'gzip' })).status).toBe(200);
    expect(r.events).toHaveLength(40);
    expect(r.requests[0]?.gzip).toBe(true);
    expect((await post(r, many)).status).toBe(413);
    expect(r.events).toHaveLength(40);
    expect((await post(r, Buffer.from('not gzip'), { ...AUTH, 'content-encoding': 'gzip' })).body).toMatchObject({ code: 6 });
  });

  it('keeps every resend: Splunk does not deduplicate, countById and duplicateIds show it', async () => {
    const r = await start();
    await post(r, `${ecs('a')}${ecs('b')}`);
    await post(r, `${ecs('b')}${ecs('c')}`);
    expect(countById(r.events)).toEqual(new Map([['a', 1], ['b', 2], ['c', 1]]));
    expect(duplicateIds(r.events)).toEqual(['b']);
  });

  it('keepEvents: false only counts (for benchmarks)', async () => {
    const r = await start({ keepEvents: false });
    await post(r, `${ecs('a')}${ecs('b')}`);
    expect(r.events).toHaveLength(0);
    expect(r.indexedCount).toBe(2);
  });

  it('light: frames and counts without parsing envelopes (benchmarks); a frame that does not close is still code 6', async () => {
    const r = await start({ light: true });
    await post(r, `${ecs('a')} ${ecs('b')}`);
    expect(r.events).toHaveLength(0);
    expect(r.indexedCount).toBe(2);
    const cut = await post(r, `${ecs('c')}{"event":`);
    expect(cut.body).toMatchObject({ code: 6, 'invalid-event-number': 1 });
    expect(r.indexedCount).toBe(3);
  });

  it('light: frames on the bytes — braces and escaped quotes in strings, multi-byte characters, gzip', async () => {
    const r = await start({ light: true });
    const tricky = JSON.stringify({ event: { message: 'é } { "b\\" [ ✓ 😀', n: [1, { a: '}' }] } });
    expect((await post(r, `${tricky}\n${tricky}${ecs('z')}`)).status).toBe(200);
    expect(r.indexedCount).toBe(3);
    expect((await post(r, gzipSync(`${tricky} ${tricky}`), { ...AUTH, 'Content-Encoding': 'gzip' })).status).toBe(200);
    expect(r.indexedCount).toBe(5);
    expect((await post(r, ' \n ')).body).toMatchObject({ code: 5 });
  });
});

describe('HEC receiver: tokens', () => {
  it('no token is 401 code 2, another scheme 401 code 3, a wrong token 403 code 4, a disabled token 403 code 1', async () => {
    const r = await start();
    expect(await post(r, ecs('a'), {})).toEqual({ status: 401, body: { text: 'Token is required', code: 2 } });
    expect(await post(r, ecs('a'), { authorization: `Bearer ${TOKEN}` })).toEqual({ status: 401, body: { text: 'Invalid authorization', code: 3 } });
    expect(await post(r, ecs('a'), { authorization: 'Splunk nope' })).toEqual({ status: 403, body: { text: 'Invalid token', code: 4 } });
    r.setTokenDisabled(true);
    expect(await post(r, ecs('a'))).toEqual({ status: 403, body: { text: 'Token disabled', code: 1 } });
    r.setTokenDisabled(false);
    expect((await post(r, ecs('a'))).status).toBe(200);
    expect(r.events).toHaveLength(1);
  });
});

describe('HEC receiver: indexer acknowledgement', () => {
  const ackHeaders = (channel: string): Record<string, string> => ({ ...AUTH, 'x-splunk-request-channel': channel });
  const poll = (r: HecReceiver, channel: string, ids: number[]): Promise<Answer> =>
    call(r, `/services/collector/ack?channel=${channel}`, JSON.stringify({ acks: ids }));

  it('needs a channel (code 10), a GUID one (code 11); ackIds count per channel; from the header or ?channel=', async () => {
    const r = await start({ ack: true });
    expect(await post(r, ecs('a'))).toEqual({ status: 400, body: { text: 'Data channel is missing', code: 10 } });
    expect(await post(r, ecs('a'), ackHeaders('not-a-guid'))).toEqual({ status: 400, body: { text: 'Invalid data channel', code: 11 } });
    expect(r.events).toHaveLength(0);
    const one = newChannel();
    const two = newChannel();
    expect(await post(r, ecs('a'), ackHeaders(one))).toEqual({ status: 200, body: { text: 'Success', code: 0, ackId: 0 } });
    expect((await post(r, ecs('b'), ackHeaders(one))).body).toMatchObject({ ackId: 1 });
    expect((await call(r, `/services/collector/event?channel=${two}`, ecs('c'))).body).toMatchObject({ ackId: 0 });
    expect(r.events.map((e) => [eventIdOf(e), e.channel, e.ackId])).toEqual([['a', one, 0], ['b', one, 1], ['c', two, 0]]);
  });

  it('immediate: true at the first poll, then forgotten (false); unknown ids are false', async () => {
    const r = await start({ ack: true });
    const ch = newChannel();
    await post(r, ecs('a'), ackHeaders(ch));
    expect(await poll(r, ch, [0, 7])).toEqual({ status: 200, body: { acks: { '0': true, '7': false } } });
    expect((await poll(r, ch, [0])).body).toEqual({ acks: { '0': false } });
  });

  it('the ack endpoint needs a channel too (code 10) and a JSON body (code 6)', async () => {
    const r = await start({ ack: true });
    expect((await call(r, '/services/collector/ack', JSON.stringify({ acks: [0] }))).body).toEqual({ text: 'Data channel is missing', code: 10 });
    expect((await call(r, `/services/collector/ack?channel=${newChannel()}`, '{"acks":"x"}')).body).toMatchObject({ code: 6 });
  });

  it('after_ms: false until the time has passed since the request', async () => {
    let t = 1_000;
    const r = await start({ ack: true, ackPlan: { kind: 'after_ms', ms: 500 }, now: () => t });
    const ch = newChannel();
    await post(r, ecs('a'), ackHeaders(ch));
    t += 499;
    expect((await poll(r, ch, [0])).body).toEqual({ acks: { '0': false } });
    t += 1;
    expect((await poll(r, ch, [0])).body).toEqual({ acks: { '0': true } });
  });

  it('after_polls per id gives acks out of order', async () => {
    const r = await start({ ack: true, ackPlan: ({ ackId }) => ({ kind: 'after_polls', polls: 3 - ackId }) });
    const ch = newChannel();
    for (const id of ['a', 'b', 'c']) await post(r, ecs(id), ackHeaders(ch));
    expect((await poll(r, ch, [0, 1, 2])).body).toEqual({ acks: { '0': false, '1': false, '2': true } });
    expect((await poll(r, ch, [0, 1])).body).toEqual({ acks: { '0': false, '1': true } });
    expect((await poll(r, ch, [0])).body).toEqual({ acks: { '0': true } });
    expect(r.pendingAcks(ch)).toEqual([]);
  });

  it('never: indexed but never acked; lost: neither indexed nor acked', async () => {
    const r = await start({ ack: true, ackPlan: { kind: 'never' } });
    const ch = newChannel();
    await post(r, ecs('a'), ackHeaders(ch));
    r.setAckPlan({ kind: 'lost' });
    expect((await post(r, ecs('b'), ackHeaders(ch))).body).toEqual({ text: 'Success', code: 0, ackId: 1 });
    for (let i = 0; i < 3; i++) expect((await poll(r, ch, [0, 1])).body).toEqual({ acks: { '0': false, '1': false } });
    expect(r.events.map(eventIdOf)).toEqual(['a']);
    expect(r.pendingAcks(ch)).toEqual([0, 1]);
  });

  it('an expired or idle channel forgets its pending ackIds', async () => {
    let t = 0;
    const r = await start({ ack: true, ackPlan: { kind: 'after_polls', polls: 2 }, channelIdleMs: 1_000, now: () => t });
    const ch = newChannel();
    await post(r, ecs('a'), ackHeaders(ch));
    await post(r, ecs('b'), ackHeaders(ch));
    r.expireChannel(ch);
    expect((await poll(r, ch, [0, 1])).body).toEqual({ acks: { '0': false, '1': false } });
    await post(r, ecs('c'), ackHeaders(ch));
    t += 1_001;
    expect((await poll(r, ch, [2])).body).toEqual({ acks: { '2': false } });
    expect(r.pendingAcks(ch)).toEqual([]);
  });

  it('/ack with acks off is code 14 "ACK is disabled"', async () => {
    const r = await start();
    expect(await poll(r, newChannel(), [0])).toEqual({ status: 400, body: { text: 'ACK is disabled', code: 14 } });
  });
});

describe('HEC receiver: health and faults', () => {
  it('health: 200 code 17, then 503 codes 18-20 when set, without a token', async () => {
    const r = await start();
    const health = (): Promise<Answer> => call(r, '/services/collector/health', undefined, {}, 'GET');
    expect(await health()).toEqual({ status: 200, body: { text: 'HEC is healthy', code: 17 } });
    r.setHealth(18);
    expect(await health()).toEqual({ status: 503, body: { text: 'HEC is unhealthy, queues are full', code: 18 } });
    r.setHealth(19);
    expect((await health()).body).toMatchObject({ code: 19 });
    r.setHealth(17);
    r.faultOn('health', { kind: 'unhealthy', code: 20 });
    expect(await health()).toEqual({ status: 503, body: { text: 'HEC is unhealthy, queues are full, ack service unavailable', code: 20 } });
    expect((await health()).status).toBe(200);
  });

  it('queued faults answer one request each: busy 503/9, internal 500/8, 413, unhealthy 503/18, any reply; nothing indexed', async () => {
    const r = await start();
    r.fault({ kind: 'busy' }, { kind: 'internal' }, { kind: 'too_large' }, { kind: 'unhealthy' }, { kind: 'reply', status: 429, body: { text: 'slow down' } });
    expect(await post(r, ecs('a'))).toEqual({ status: 503, body: { text: 'Server is busy', code: 9 } });
    expect(await post(r, ecs('a'))).toEqual({ status: 500, body: { text: 'Internal server error', code: 8 } });
    expect((await post(r, ecs('a'))).status).toBe(413);
    expect(await post(r, ecs('a'))).toEqual({ status: 503, body: { text: 'HEC is unhealthy, queues are full', code: 18 } });
    expect(await post(r, ecs('a'))).toEqual({ status: 429, body: { text: 'slow down' } });
    expect(r.events).toHaveLength(0);
    expect((await post(r, ecs('a'))).status).toBe(200);
    expect(r.countRequests('event')).toBe(6);
    expect(r.countRequests('event', 503)).toBe(2);
  });

  it('a queued fault answers the next request to its endpoint, whatever its token; other endpoints are untouched', async () => {
    const r = await start({ ack: true });
    r.fault({ kind: 'busy' });
    r.faultOn('ack', { kind: 'internal' });
    expect((await call(r, '/services/collector/health', undefined, {}, 'GET')).status).toBe(200);
    expect((await post(r, ecs('a'), {})).status).toBe(503);
    expect((await post(r, ecs('a'), {})).status).toBe(401);
    const ch = newChannel();
    expect((await call(r, `/services/collector/ack?channel=${ch}`, '{"acks":[0]}')).body).toEqual({ text: 'Internal server error', code: 8 });
    expect((await call(r, `/services/collector/ack?channel=${ch}`, '{"acks":[0]}')).body).toEqual({ acks: { '0': false } });
  });

  it('delay answers normally after the wait', async () => {
    const r = await start();
    r.fault({ kind: 'delay', ms: 150 });
    const t0 = performance.now();
    expect((await post(r, ecs('a'))).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('drop before reading indexes nothing; drop after indexing loses only the reply (a resend duplicates)', async () => {
    const r = await start();
    r.fault({ kind: 'drop' }, { kind: 'drop', when: 'after_index' });
    await expect(post(r, ecs('a'))).rejects.toThrow();
    expect(r.events).toHaveLength(0);
    await expect(post(r, ecs('b'))).rejects.toThrow();
    expect(r.events.map(eventIdOf)).toEqual(['b']);
    expect((await post(r, ecs('b'))).status).toBe(200);
    expect(duplicateIds(r.events)).toEqual(['b']);
  });

  it('a fault function scripts by request number', async () => {
    const r = await start();
    r.setFaultFunction(({ endpoint, endpointRequestNo }) => (endpoint === 'event' && endpointRequestNo % 2 === 0 ? { kind: 'busy' } : undefined));
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await post(r, ecs(`e${i}`))).status);
    expect(statuses).toEqual([200, 503, 200, 503]);
    expect(r.events.map(eventIdOf)).toEqual(['e0', 'e2']);
  });

  it('stop() is an outage on the same port; start() comes back there with the events kept', async () => {
    const r = await start();
    await post(r, ecs('a'));
    const port = r.port;
    await r.stop();
    await expect(post(r, ecs('b'))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await r.start();
    expect(r.port).toBe(port);
    expect((await post(r, ecs('c'))).status).toBe(200);
    expect(r.events.map(eventIdOf)).toEqual(['a', 'c']);
  });
});
