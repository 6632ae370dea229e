/**
 * testssl.sh (Debian's package) against the lab's HTTPS listener, offline: no DNS lookups
 * (--nodns none), no phoning out, and only the checks that matter here: protocols (-p), cipher
 * categories (-s), renegotiation (-R) and the classic vulnerabilities (-U). The assertions read
 * its JSON. Slow (about a minute), so it runs from `make test-tls`, not `make test`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultSettings, Lab } from '../../src/lab/lab.js';
import { inNs } from '../../src/lab/exec.js';
import { cli, isRoot } from '../e2e/lab-helpers.js';

const skip = isRoot() ? false : 'needs root (network namespaces)';

interface Finding {
  id: string;
  severity: string;
  finding: string;
}

describe('testssl.sh against the lab', { skip }, () => {
  const lab = new Lab(defaultSettings('tssllab'));
  const json = join(lab.stateDir, 'testssl.json');
  let findings: Finding[] = [];
  const find = (id: string): Finding => {
    const f = findings.find((x) => x.id === id);
    assert.ok(f !== undefined, `testssl reported no ${id}: ${findings.map((x) => x.id).join(' ')}`);
    return f;
  };

  before(async () => {
    lab.down();
    await lab.up();
    // `lab up` made the certificate and init configured the listener on 443.
    assert.match(await cli(lab.podSocket, 'show http static server'), /listener tls:\/\/0\.0\.0\.0\/443/);
    inNs(
      lab.ns.client,
      ['testssl', '--quiet', '--warnings', 'off', '--nodns', 'none', '--color', '0', '-p', '-s', '-R', '-U', '--jsonfile-pretty', json, `${lab.serverIp}:443`],
      { timeoutMs: 300_000 },
    );
    const doc = JSON.parse(readFileSync(json, 'utf8')) as { scanResult: Array<Record<string, unknown>> };
    const scan = doc.scanResult[0]!;
    for (const v of Object.values(scan)) if (Array.isArray(v)) findings.push(...(v as Finding[]));
  });
  after(() => lab.down());

  it('reports no protocol older than TLS 1.2, and TLS 1.2 and 1.3 offered', () => {
    for (const id of ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1']) assert.match(find(id).finding, /^not offered/, id);
    assert.match(find('TLS1_2').finding, /^offered/);
    assert.match(find('TLS1_3').finding, /^offered/);
    assert.equal(find('ALPN_HTTP2').finding, 'h2');
  });

  it('reports no NULL, anonymous, EXPORT, LOW, RC4 or 3DES cipher', () => {
    for (const id of ['cipherlist_NULL', 'cipherlist_aNULL', 'cipherlist_EXPORT', 'cipherlist_LOW', 'cipherlist_3DES_IDEA']) {
      assert.match(find(id).finding, /^not offered/, id);
    }
    assert.match(find('RC4').finding, /not vulnerable/);
    assert.match(find('cipherlist_STRONG').finding, /^offered/);
  });

  it('reports secure renegotiation and no client-initiated renegotiation', () => {
    assert.match(find('secure_renego').finding, /supported/);
    assert.match(find('secure_client_renego').finding, /not vulnerable/);
  });

  it('reports none of the classic vulnerabilities and nothing worse than LOW', () => {
    for (const id of ['heartbleed', 'CCS', 'ticketbleed', 'ROBOT', 'CRIME_TLS', 'POODLE_SSL', 'SWEET32', 'FREAK', 'LOGJAM', 'BEAST', 'LUCKY13']) {
      assert.match(find(id).finding, /not vulnerable|no |not offered/i, id);
    }
    const bad = findings.filter((f) => ['MEDIUM', 'HIGH', 'CRITICAL', 'FATAL'].includes(f.severity));
    assert.deepEqual(bad, []);
  });
});
