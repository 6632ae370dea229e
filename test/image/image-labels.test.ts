/**
 * `make test-image`: the image's version and revision labels follow the commit through buildah's
 * layer cache. Buildah keys the Containerfile's `LABEL …="${REVISION}"` step on its unexpanded text,
 * so with build args alone a new commit whose sources did not change kept the revision of the
 * commit that first built the layers (CI failed on exactly that). `make build-container` therefore
 * also passes the labels as --label (mk/deploy.mk). This builds the Containerfile's own label
 * stanza (everything from its `ARG VERSION` on, on top of `FROM scratch`) twice in a throwaway
 * storage root, with the flags the Makefile prints for two revisions, and reads the labels back.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRoot, REPO_ROOT } from '../e2e/lab-helpers.js';

const havePodman = spawnSync('sh', ['-c', 'command -v podman']).status === 0;
const skip = !isRoot() ? 'needs root' : !havePodman ? 'no podman (make test-image installs it)' : false;

describe("the image's OCI labels across builds that hit the layer cache", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'vpp-image-labels-'));
  const storage = ['--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--storage-driver', 'vfs'];
  // vfs storage has no mounts to undo: removing the directory removes the store (not `podman
  // system reset`, which also touches machine-wide state).
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The Containerfile's label stanza, alone: the build is a few label steps, no base image. */
  const containerfile = join(dir, 'Containerfile');
  const source = readFileSync(join(REPO_ROOT, 'Containerfile'), 'utf8');
  const stanza = source.slice(source.indexOf('\nARG VERSION'));
  writeFileSync(containerfile, `FROM scratch${stanza}`);

  /** Builds with the flags `make print-image-build-args` gives for this version and revision; the image's id and labels. */
  const build = (version: string, revision: string): { id: string; labels: Record<string, string> } => {
    const make = spawnSync('make', ['-s', '-C', REPO_ROOT, 'print-image-build-args', `IMAGE_VERSION=${version}`, `IMAGE_REVISION=${revision}`, "IMAGE_SOURCE=https://example.invalid/o'q"], {
      encoding: 'utf8',
    });
    assert.equal(make.status, 0, make.stderr);
    const flags = make.stdout.trim();
    const cmd = `podman ${storage.join(' ')} build --pull=never ${flags} -f '${containerfile}' -t localhost/labels:test '${dir}'`;
    const b = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
    assert.equal(b.status, 0, `${cmd}\n${b.stdout}\n${b.stderr}`);
    const inspect = spawnSync('podman', [...storage, 'image', 'inspect', '--format', '{{.Id}} {{json .Labels}}', 'localhost/labels:test'], { encoding: 'utf8' });
    assert.equal(inspect.status, 0, inspect.stderr);
    const [id, json] = inspect.stdout.trim().split(/ (.*)/s);
    return { id: id!, labels: JSON.parse(json!) as Record<string, string> };
  };

  it('a second commit gets its own revision label, and a rebuild of it is a cache hit with the same label', () => {
    const first = build('1.0.0', 'a'.repeat(40));
    assert.equal(first.labels['org.opencontainers.image.revision'], 'a'.repeat(40));
    const second = build('1.0.0', 'b'.repeat(40));
    assert.equal(second.labels['org.opencontainers.image.revision'], 'b'.repeat(40), 'the layer cache kept the previous build\'s revision');
    assert.equal(second.labels['org.opencontainers.image.version'], '1.0.0');
    // A quote in the source URL reaches the label as it was, not through the shell.
    assert.equal(second.labels['org.opencontainers.image.source'], "https://example.invalid/o'q");
    const again = build('1.0.0', 'b'.repeat(40));
    assert.equal(again.id, second.id, 'the same flags built a new image instead of hitting the cache');
    assert.equal(again.labels['org.opencontainers.image.revision'], 'b'.repeat(40));
  });
});
