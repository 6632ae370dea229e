import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHttpListenerAddCommand, parseHttpStaticServerCommand, parseListenUri, parseSize } from '../../src/http/command.js';

const w = (s: string): string[] => s.split(/\s+/).filter((x) => x !== '');

test('the seed line parses', () => {
  assert.deepEqual(parseHttpStaticServerCommand(w('www-root /www uri tcp://0.0.0.0/80 cache-size 512m')), {
    wwwRoot: '/www',
    transport: 'tcp',
    family: 4,
    address: '0.0.0.0',
    port: 80,
    cacheSizeBytes: 512 * 1024 * 1024,
  });
});

test('keyword pairs in any order; defaults for uri and cache-size', () => {
  assert.deepEqual(parseHttpStaticServerCommand(w('cache-size 64k uri tcp://192.168.123.150/8080 www-root /srv/www')), {
    wwwRoot: '/srv/www',
    transport: 'tcp',
    family: 4,
    address: '192.168.123.150',
    port: 8080,
    cacheSizeBytes: 64 * 1024,
  });
  assert.deepEqual(parseHttpStaticServerCommand(w('www-root /www')), {
    wwwRoot: '/www',
    transport: 'tcp',
    family: 4,
    address: '0.0.0.0',
    port: 80,
    cacheSizeBytes: 10 * 1024 * 1024,
  });
});

test('sizes', () => {
  assert.equal(parseSize('1g'), 1024 ** 3);
  assert.equal(parseSize('10M'), 10 * 1024 ** 2);
  assert.equal(parseSize('4096'), 4096);
  assert.equal(parseSize('2kb'), 2048);
  assert.equal(parseSize('0'), 0);
  for (const bad of ['', 'm', '1.5m', '-1', '10t', '1 m']) assert.throws(() => parseSize(bad), /cache-size must be/);
});

test('invalid input says what is valid', () => {
  const cases: [string, RegExp][] = [
    ['uri tcp://0.0.0.0/80', /www-root <dir> is required/],
    ['www-root /www uri http://0.0.0.0/80', /uri must look like tcp:\/\/0\.0\.0\.0\/80 or tls:\/\/0\.0\.0\.0\/443/],
    ['www-root /www uri tcp://0.0.0.0:80', /uri must look like tcp:\/\/0\.0\.0\.0\/80 or tls:\/\/0\.0\.0\.0\/443/],
    ['www-root /www uri tcp://0.0.0.300/80', /uri must look like/],
    ['www-root /www uri tcp://0.0.0.0/0', /uri must look like/],
    ['www-root /www uri tcp://0.0.0.0/65536', /uri must look like/],
    ['www-root /www uri tcp://host/80', /uri must look like/],
    ['www-root /www cache-size lots', /cache-size must be a number of bytes with an optional k, m or g suffix/],
    ['www-root www', /www-root must be an absolute directory path/],
    ['www-root /www fifo-size 4', /unknown option 'fifo-size': valid options are www-root <dir>, uri tcp:\/\/<addr>\/<port>, uri tls:\/\/<addr>\/<port>, cert <file>, key <file>, cache-size <n>\[kmg\]/],
    ['www-root', /'www-root' needs a value/],
    ['www-root /a www-root /b', /'www-root' given twice/],
  ];
  for (const [line, re] of cases) assert.throws(() => parseHttpStaticServerCommand(w(line)), re, line);
});

test('VPP tls:// uri with our cert/key extension, and 25.06 listener add', () => {
  assert.deepEqual(parseHttpStaticServerCommand(w('www-root /www uri tls://0.0.0.0/443')), {
    wwwRoot: '/www',
    transport: 'tls',
    family: 4,
    address: '0.0.0.0',
    port: 443,
    cacheSizeBytes: 10 * 1024 * 1024,
  });
  assert.deepEqual(parseHttpStaticServerCommand(w('www-root /www uri tls://0.0.0.0/443 cert /tls/tls.crt key /tls/tls.key http1-only')), {
    wwwRoot: '/www',
    transport: 'tls',
    family: 4,
    address: '0.0.0.0',
    port: 443,
    certFile: '/tls/tls.crt',
    keyFile: '/tls/tls.key',
    cacheSizeBytes: 10 * 1024 * 1024,
    http1Only: true,
  });
  assert.deepEqual(parseHttpListenerAddCommand(w('uri tls://0.0.0.0/443 cert /tls/tls.crt key /tls/tls.key')), {
    transport: 'tls',
    family: 4,
    address: '0.0.0.0',
    port: 443,
    certFile: '/tls/tls.crt',
    keyFile: '/tls/tls.key',
  });
  assert.deepEqual(parseHttpStaticServerCommand(w('www-root /www uri tcp://0.0.0.0/80 redirect-to-https')).redirectToHttps, true);
});

test('uris are family-agnostic: IPv6 with or without brackets', () => {
  assert.deepEqual(parseListenUri('tcp://::/80'), { transport: 'tcp', address: '::', family: 6, port: 80 });
  assert.deepEqual(parseListenUri('TLS://[2001:db8::1]/443'), { transport: 'tls', address: '2001:db8::1', family: 6, port: 443 });
  assert.deepEqual(parseListenUri('tls://192.0.2.1/8443'), { transport: 'tls', address: '192.0.2.1', family: 4, port: 8443 });
  for (const bad of ['tcp://::1', 'tcp://fe80::1%eth0/80', 'udp://0.0.0.0/80', 'tls://[::1/443', 'tls://0.0.0.0/']) {
    assert.throws(() => parseListenUri(bad), /uri must look like/, bad);
  }
});

test('listener options that do not fit are refused with the reason', () => {
  const cases: [string, RegExp][] = [
    ['uri tcp://0.0.0.0/80 cert /a key /b', /cert and key apply to a tls:\/\/ uri only/],
    ['uri tls://0.0.0.0/443 cert /a', /cert <file> and key <file> go together/],
    ['uri tls://0.0.0.0/443 cert a.crt key /b', /cert must be an absolute file path/],
    ['uri tls://0.0.0.0/443 redirect-to-https', /redirect-to-https applies to a tcp:\/\/ uri/],
    ['cert /a key /b', /uri <uri> is required/],
    ['uri tls://0.0.0.0/443 www-root /www', /unknown option 'www-root': valid options are uri <uri>, cert <file>, key <file>, redirect-to-https/],
  ];
  for (const [line, re] of cases) assert.throws(() => parseHttpListenerAddCommand(w(line)), re, line);
});
