// Throwaway certificates for TLS tests, made with the machine's openssl: a self-signed one per name.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
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
