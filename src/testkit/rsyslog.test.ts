// The test rsyslogd: it starts, writes what it receives over TCP, TLS and UDP as JSON lines, and restarts on its ports.
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { startRsyslog, type RunningRsyslog } from './rsyslog.js';

let r: RunningRsyslog | undefined;
afterAll(async () => {
  await r?.close();
});

async function until(pred: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((res) => setTimeout(res, 20));
  }
}

describe('the test rsyslogd', () => {
  it('takes octet-counted messages over TCP and TLS and datagrams over UDP, and starts again on the same ports', async () => {
    r = await startRsyslog();
    const rs = r;
    const m = (n: number): string => `<134>1 2024-05-01T10:00:03.120Z host app 12 receipt [mimecast@32473 account="a\\"b" event_id="e${n}"] héllo {"n":${n}}`;
    const framed = (n: number): string => `${Buffer.byteLength(m(n))} ${m(n)}`;
    const tcp = connect({ host: '127.0.0.1', port: rs.tcpPort });
    await new Promise((res) => tcp.once('connect', res));
    tcp.on('error', () => undefined);
    tcp.end(framed(1) + framed(2));
    const tls = tlsConnect({ host: '127.0.0.1', port: rs.tlsPort, ca: rs.cert.cert });
    await new Promise((res) => tls.once('secureConnect', res));
    tls.on('error', () => undefined);
    tls.end(framed(3));
    const udp = createSocket('udp4');
    await new Promise((res) => udp.send(m(4), rs.udpPort, '127.0.0.1', res));
    udp.close();
    await until(() => rs.messages().length === 4);
    const got = rs.messages().sort((a, b) => a.msg.localeCompare(b.msg));
    expect(got[0]).toMatchObject({ pri: '134', facility: '16', severity: '6', hostname: 'host', app: 'app', procid: '12', msgid: 'receipt', sd: '[mimecast@32473 account="a\\"b" event_id="e1"]', msg: 'héllo {"n":1}' });
    expect(got.map((g) => g.msg)).toEqual([1, 2, 3, 4].map((n) => `héllo {"n":${n}}`));
    await rs.stop();
    expect(rs.pid()).toBeUndefined();
    await rs.start();
    const again = connect({ host: '127.0.0.1', port: rs.tcpPort });
    await new Promise((res) => again.once('connect', res));
    again.on('error', () => undefined);
    again.end(framed(5));
    await until(() => rs.messages().length === 5);
  }, 30_000);
});
