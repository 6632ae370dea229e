import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHttpStaticServerCommand, parseSize } from '../../src/http/command.js';

const w = (s: string): string[] => s.split(/\s+/).filter((x) => x !== '');

test('the seed line parses', () => {
  assert.deepEqual(parseHttpStaticServerCommand(w('www-root /www uri tcp://0.0.0.0/80 cache-size 512m')), {
    wwwRoot: '/www',
    address: '0.0.0.0',
    port: 80,
    cacheSizeBytes: 512 * 1024 * 1024,
  });
});

test('keyword pairs in any order; defaults for uri and cache-size', () => {
  assert.deepEqual(parseHttpStaticServerCommand(w('cache-size 64k uri tcp://192.168.123.150/8080 www-root /srv/www')), {
    wwwRoot: '/srv/www',
    address: '192.168.123.150',
    port: 8080,
    cacheSizeBytes: 64 * 1024,
  });
  assert.deepEqual(parseHttpStaticServerCommand(w('www-root /www')), {
    wwwRoot: '/www',
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
    ['www-root /www uri http://0.0.0.0/80', /uri must look like tcp:\/\/0\.0\.0\.0\/80/],
    ['www-root /www uri tcp://0.0.0.0:80', /uri must look like tcp:\/\/0\.0\.0\.0\/80/],
    ['www-root /www uri tcp://0.0.0.300/80', /uri must look like/],
    ['www-root /www uri tcp://0.0.0.0/0', /uri must look like/],
    ['www-root /www uri tcp://0.0.0.0/65536', /uri must look like/],
    ['www-root /www uri tcp://host/80', /uri must look like/],
    ['www-root /www cache-size lots', /cache-size must be a number of bytes with an optional k, m or g suffix/],
    ['www-root www', /www-root must be an absolute directory path/],
    ['www-root /www fifo-size 4', /unknown option 'fifo-size': valid options are www-root <dir>, uri tcp:\/\/<addr>\/<port>, cache-size <n>\[kmg\]/],
    ['www-root', /'www-root' needs a value/],
    ['www-root /a www-root /b', /'www-root' given twice/],
  ];
  for (const [line, re] of cases) assert.throws(() => parseHttpStaticServerCommand(w(line)), re, line);
});
