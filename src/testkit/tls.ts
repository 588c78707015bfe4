// Throwaway certificates for TLS tests, made with the machine's openssl: a self-signed one per name, or a tiny CA that signs server and client certificates.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCert {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

/** A self-signed certificate (and key) for `name` (also its subjectAltName), valid for a day. */
export function selfSignedCert(name = 'localhost', dir = mkdtempSync(join(tmpdir(), 'mc-tls-'))): TestCert {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  const san = /^[\d.]+$/.test(name) ? `IP:${name}` : `DNS:${name}`;
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${name}`, '-addext', `subjectAltName=${san}`], {
    stdio: 'ignore',
  });
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

export interface TestCa extends TestCert {
  /** A certificate for `name` (also its subjectAltName) signed by this CA, for a server or a client, valid for a day. */
  issue(name: string, use: 'server' | 'client'): TestCert;
}

/** A throwaway CA (for mutual TLS tests): it signs server and client certificates that a peer trusting it accepts. */
export function testCa(subject = 'mimecast-collector test CA', dir = mkdtempSync(join(tmpdir(), 'mc-ca-'))): TestCa {
  const certFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'ca.key');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const run = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  run(['req', '-x509', ...ec, '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${subject}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  let serial = 1;
  return {
    certFile,
    keyFile,
    cert: readFileSync(certFile, 'utf8'),
    key: readFileSync(keyFile, 'utf8'),
    issue(name, use) {
      const base = join(dir, `${use}-${serial}-${name.replace(/[^\w.-]/g, '_')}`);
      const san = /^[\d.]+$/.test(name) ? `IP:${name}` : `DNS:${name}`;
      writeFileSync(`${base}.ext`, `subjectAltName=${san}\nextendedKeyUsage=${use === 'server' ? 'serverAuth' : 'clientAuth'}\nbasicConstraints=CA:FALSE\n`);
      run(['req', ...ec, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${name}`]);
      run(['x509', '-req', '-in', `${base}.csr`, '-CA', certFile, '-CAkey', keyFile, '-set_serial', String(serial++), '-days', '1', '-out', `${base}.crt`, '-extfile', `${base}.ext`]);
      return { certFile: `${base}.crt`, keyFile: `${base}.key`, cert: readFileSync(`${base}.crt`, 'utf8'), key: readFileSync(`${base}.key`, 'utf8') };
    },
  };
}
