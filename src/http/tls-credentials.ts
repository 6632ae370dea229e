/**
 * TLS credentials: the policy (protocol versions, cipher list, curves), loading and checking a
 * PEM certificate/key pair, describing a certificate for `show http static server`, and the
 * per-process self-signed certificate used when no `cert`/`key` is configured.
 *
 * All cryptography is OpenSSL's through Node's `tls`/`crypto`; node-forge only assembles and
 * signs the self-signed certificate's ASN.1 (Node 20 has no certificate builder).
 */
import { X509Certificate, createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import forge from 'node-forge';

/**
 * Mozilla's "intermediate" configuration (TLS 1.2 + 1.3): the TLS 1.3 suites and the ECDHE
 * AEAD suites of TLS 1.2. The three DHE-RSA suites of the recommendation are left out: Node
 * offers them only with configured DH parameters, which we do not ship.
 */
export const TLS13_CIPHERSUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
];
export const TLS_CIPHERS = [...TLS13_CIPHERSUITES, ...TLS12_CIPHERS].join(':');
export const TLS_CURVES = 'X25519:prime256v1:secp384r1';

/** A certificate chain and its key, checked to belong together. */
export interface TlsPair {
  certPem: Buffer;
  keyPem: Buffer;
  /** The leaf certificate. */
  leaf: X509Certificate;
  /** Where it came from: the files, or 'self-signed'. */
  source: string;
}

export interface CertificateInfo {
  subject: string;
  issuer: string;
  /** As OpenSSL prints them: "DNS:example.com, IP Address:192.0.2.1". */
  subjectAltName: string;
  notBefore: string;
  notAfter: string;
  /** Seconds since the epoch. */
  notAfterEpoch: number;
  /** SHA-256 of the DER, colon-separated hex. */
  fingerprint256: string;
  /** Certificates in the chain, leaf included. */
  chainLength: number;
  selfSigned: boolean;
}

export function describeCertificate(pair: TlsPair): CertificateInfo {
  const c = pair.leaf;
  const chain = splitPemCertificates(pair.certPem.toString('latin1'));
  return {
    subject: c.subject.split('\n').join(', '),
    issuer: c.issuer.split('\n').join(', '),
    subjectAltName: c.subjectAltName ?? '',
    notBefore: c.validFrom,
    notAfter: c.validTo,
    notAfterEpoch: Math.floor(Date.parse(c.validTo) / 1000),
    fingerprint256: c.fingerprint256,
    chainLength: chain.length,
    selfSigned: pair.source === 'self-signed',
  };
}

function splitPemCertificates(text: string): string[] {
  const out: string[] = [];
  const re = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) out.push(m[0]);
  return out;
}

export type TlsPairReason = 'unreadable' | 'bad-certificate' | 'bad-key' | 'key-mismatch' | 'refused-by-openssl' | 'expired' | 'not-yet-valid';

/** Why a pair was refused; `reason` is stable for logs and metrics. */
export class TlsPairError extends Error {
  constructor(
    readonly reason: TlsPairReason,
    message: string,
  ) {
    super(message);
    this.name = 'TlsPairError';
  }
}

/** Parses and checks a PEM chain + key: the leaf must parse and the key must be its key. */
export function checkPair(certPem: Buffer, keyPem: Buffer, source: string): TlsPair {
  const chain = splitPemCertificates(certPem.toString('latin1'));
  if (chain.length === 0) throw new TlsPairError('bad-certificate', `${source}: no PEM certificate (-----BEGIN CERTIFICATE-----) found`);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(chain[0]!);
    for (const extra of chain.slice(1)) new X509Certificate(extra);
  } catch (err) {
    throw new TlsPairError('bad-certificate', `${source}: the certificate does not parse (${(err as Error).message})`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new TlsPairError('bad-key', `${source}: the private key does not parse (${(err as Error).message}); expected an unencrypted PEM key`);
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new TlsPairError('key-mismatch', `${source}: the private key does not belong to the certificate (subject ${leaf.subject.split('\n').join(', ')})`);
  }
  return { certPem, keyPem, leaf, source };
}

/** How loadPair reads a file (injected by tests to interleave a rotation between the two reads). */
export type PairFileReader = (file: string) => Buffer;

/**
 * Reads and checks a pair from files (following symlinks, as a mounted Secret needs).
 *
 * The two files are two reads: a kubelet symlink swap between them gives the old certificate
 * with the new key, which does not match. A pair that fails the check is therefore read again,
 * until two reads in a row give the same bytes (then the files really hold a bad pair) or a read
 * gives a good pair; at most `MAX_PAIR_READS` reads of each file.
 */
export function loadPair(certFile: string, keyFile: string, read: PairFileReader = (f) => readFileSync(f)): TlsPair {
  let last: { cert: Buffer; key: Buffer } | null = null;
  for (let attempt = 1; ; attempt++) {
    let certPem: Buffer;
    let keyPem: Buffer;
    try {
      certPem = read(certFile);
      keyPem = read(keyFile);
    } catch (err) {
      throw new TlsPairError('unreadable', `cannot read ${(err as NodeJS.ErrnoException).path ?? certFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      return checkPair(certPem, keyPem, `${certFile} + ${keyFile}`);
    } catch (err) {
      const stable = last !== null && last.cert.equals(certPem) && last.key.equals(keyPem);
      if (stable || attempt >= MAX_PAIR_READS || !(err instanceof TlsPairError)) throw err;
      last = { cert: certPem, key: keyPem };
    }
  }
}

/** Reads of a pair before a bad one is believed (a swap between reads is retried). */
export const MAX_PAIR_READS = 4;

/** 'expired' / 'not-yet-valid' when the leaf is outside its validity at `nowMs`, else null. */
export function validityProblem(pair: TlsPair, nowMs: number): 'expired' | 'not-yet-valid' | null {
  const from = Date.parse(pair.leaf.validFrom);
  const to = Date.parse(pair.leaf.validTo);
  if (nowMs > to) return 'expired';
  if (nowMs < from) return 'not-yet-valid';
  return null;
}

export interface SelfSignedOptions {
  /** Subject alternative names: IP addresses and DNS names. */
  names: string[];
  /** Validity in days. Default 30. */
  days?: number;
  commonName?: string;
  /** Clock for notBefore (tests). */
  now?: Date;
}

/**
 * A fresh self-signed certificate with a fresh RSA-2048 key (generated by OpenSSL): never a key
 * shared between processes or builds, unlike VPP's built-in test certificate.
 */
export function selfSignedPair(options: SelfSignedOptions): TlsPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const pubPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(pubPem);
  // Positive 16-byte serial (top bit clear).
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  cert.serialNumber = serial.toString('hex');
  const now = options.now ?? new Date();
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + (options.days ?? 30) * 86_400_000);
  const attrs = [{ name: 'commonName', value: options.commonName ?? options.names[0] ?? 'vpp-server' }, { name: 'organizationName', value: 'vpp-server self-signed' }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  const altNames = options.names.map((n) => (isIP(n) !== 0 ? { type: 7, ip: n } : { type: 2, value: n }));
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(cert);
  return checkPair(Buffer.from(certPem), Buffer.from(keyPem), 'self-signed');
}
