/**
 * The functions' code from packaged zips (lib/code.ts): the architecture comes
 * from lambda.architecture, and a zip whose bootstrap is built for another
 * machine, or that is missing or holds no bootstrap, fails the synth.
 * The zips here are small fixtures: an ELF header with the machine field set.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { describe, test } from 'node:test';
import { buildApp } from '../lib/app';
import { checkPackagedZip, elfMachine, PackageError, readZipEntry } from '../lib/code';
import { FUNCTIONS } from '../lib/definition';
import { resourcesOfType, synth, tempDir } from './helpers';

const EM_X86_64 = 62;
const EM_AARCH64 = 183;

/** The first bytes of a 64-bit little-endian ELF executable for `machine`, then padding. */
function elf(machine: number): Buffer {
  const b = Buffer.alloc(256, 0x90);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2; // 64-bit
  b[5] = 1; // little-endian
  b[6] = 1;
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(machine, 18);
  return b;
}

/** A zip of `entries` (deflated unless `stored`), written the way zip tools lay it out. */
function writeZip(file: string, entries: Record<string, Buffer>, stored = false): void {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, content] of Object.entries(entries)) {
    const data = stored ? content : zlib.deflateRawSync(content);
    const nameBytes = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(stored ? 0 : 8, 8);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(content.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x0314, 4); // made by Unix
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(stored ? 0 : 8, 10);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(content.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE((0o100755 << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(Object.keys(entries).length, 8);
  eocd.writeUInt16LE(Object.keys(entries).length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  fs.writeFileSync(file, Buffer.concat([...locals, cd, eocd]));
}

/** A zip directory laid out as `make package` writes it, every bootstrap for `machine`. */
function zipDir(machine: number, override: Record<string, Record<string, Buffer> | null> = {}): string {
  const dir = tempDir('zips');
  for (const f of FUNCTIONS) {
    const entries = f.binary in override ? override[f.binary] : { bootstrap: elf(machine) };
    if (entries === null) continue;
    fs.mkdirSync(path.join(dir, f.binary));
    writeZip(path.join(dir, f.binary, 'bootstrap.zip'), entries);
  }
  return dir;
}

function packagedSynth(context: Record<string, unknown>) {
  return buildApp({ context, outdir: tempDir('packaged') });
}

describe('packaged code: zip and ELF reading', () => {
  test('reads the bootstrap of a deflated and of a stored zip, and lists the entries', () => {
    const dir = tempDir('zip');
    for (const stored of [false, true]) {
      const file = path.join(dir, `z${stored}.zip`);
      writeZip(file, { README: Buffer.from('hi'), bootstrap: elf(EM_AARCH64) }, stored);
      const { names, data } = readZipEntry(file, 'bootstrap');
      assert.deepEqual(names, ['README', 'bootstrap']);
      assert.deepEqual(data, elf(EM_AARCH64));
    }
    const notZip = path.join(dir, 'plain');
    fs.writeFileSync(notZip, elf(EM_X86_64));
    assert.throws(() => readZipEntry(notZip, 'bootstrap'), /not a zip file/);
  });

  test('ELF machine: x86_64, arm64, anything else described', () => {
    assert.equal(elfMachine(elf(EM_X86_64)), 'x86_64');
    assert.equal(elfMachine(elf(EM_AARCH64)), 'arm64');
    assert.equal(elfMachine(elf(40)), 'an ELF executable for machine 40');
    assert.equal(elfMachine(Buffer.from('#!/bin/sh\nexit 1\n')), 'not an ELF executable');
  });

  test('checkPackagedZip: a match passes, a mismatch names both architectures and the fix', () => {
    const dir = zipDir(EM_AARCH64);
    const zip = path.join(dir, 'rds_check', 'bootstrap.zip');
    checkPackagedZip(zip, 'arm64');
    assert.throws(
      () => checkPackagedZip(zip, 'x86_64'),
      (e: Error) =>
        e instanceof PackageError &&
        /its bootstrap is an arm64 executable, but lambda.architecture is x86_64/.test(e.message) &&
        /make package ARCH=x86_64/.test(e.message) &&
        /or set lambda.architecture to arm64/.test(e.message),
    );
  });
});

describe('packaged code: the stack', () => {
  test('x86_64 zips with lambda.architecture=x86_64: every function x86_64, its code the zip', () => {
    const dir = zipDir(EM_X86_64);
    const { app } = packagedSynth({ lambdaZipDir: dir, 'lambda.architecture': 'x86_64' });
    const assembly = app.synth();
    const stack = assembly.stacks[0];
    const fns = Object.values(stack.template.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>).filter(
      (r) => r.Type === 'AWS::Lambda::Function',
    );
    assert.equal(fns.length, FUNCTIONS.length);
    const manifest = JSON.parse(fs.readFileSync(path.join(assembly.directory, `${stack.stackName}.assets.json`), 'utf8'));
    for (const fn of fns) {
      const p = fn.Properties as { Architectures: string[]; Code: { S3Key: string }; Description: string };
      assert.deepEqual(p.Architectures, ['x86_64']);
      const binary = p.Description.split(' ').pop()!;
      const asset = manifest.files[p.Code.S3Key.replace(/\.zip$/, '')];
      assert.equal(asset.source.packaging, 'file', binary);
      assert.deepEqual(
        fs.readFileSync(path.join(assembly.directory, asset.source.path)),
        fs.readFileSync(path.join(dir, binary, 'bootstrap.zip')),
        `${binary}: the template's code is its packaged zip`,
      );
    }
    assert.equal(stack.template.Rules?.PlaceholderCodeIsNotDeployable, undefined);
  });

  test('arm64 zips with the default architecture (arm64) synthesize', () => {
    const { app } = packagedSynth({ lambdaZipDir: zipDir(EM_AARCH64) });
    const fns = resourcesOfType(app.synth().stacks[0].template, 'AWS::Lambda::Function');
    for (const [id, fn] of fns) assert.deepEqual(fn.Properties.Architectures, ['arm64'], id);
  });

  test('arm64 zips with lambda.architecture=x86_64 fail the synth', () => {
    assert.throws(
      () => packagedSynth({ lambdaZipDir: zipDir(EM_AARCH64), 'lambda.architecture': 'x86_64' }),
      (e: Error) => e instanceof PackageError && /arm64 executable, but lambda.architecture is x86_64/.test(e.message),
    );
  });

  test('one x86_64 zip among arm64 ones fails the synth, naming that zip', () => {
    const dir = zipDir(EM_AARCH64, { emit_metrics: { bootstrap: elf(EM_X86_64) } });
    assert.throws(
      () => packagedSynth({ lambdaZipDir: dir }),
      (e: Error) => e instanceof PackageError && /emit_metrics\/bootstrap\.zip: its bootstrap is an x86_64 executable/.test(e.message),
    );
  });

  test('a missing zip, and a zip without bootstrap, fail the synth with the make command', () => {
    assert.throws(
      () => packagedSynth({ lambdaZipDir: zipDir(EM_AARCH64, { ssm_launch: null }) }),
      (e: Error) => e instanceof PackageError && /ssm_launch\/bootstrap\.zip is missing .*make package ARCH=arm64/.test(e.message),
    );
    assert.throws(
      () => packagedSynth({ lambdaZipDir: zipDir(EM_AARCH64, { rds_stop: { rds_stop: elf(EM_AARCH64) } }) }),
      (e: Error) => e instanceof PackageError && /rds_stop\/bootstrap\.zip holds no bootstrap \(entries: rds_stop\)/.test(e.message),
    );
  });

  test('placeholder code: the configured architecture, no zip read', () => {
    const s = synth({ 'lambda.architecture': 'x86_64', lambdaZipDir: path.join(tempDir('empty'), 'none') });
    for (const [id, fn] of resourcesOfType(s.json, 'AWS::Lambda::Function')) assert.deepEqual(fn.Properties.Architectures, ['x86_64'], id);
  });

  test('lambda.architecture accepts arm64 and x86_64 only', () => {
    assert.throws(() => synth({ 'lambda.architecture': 'amd64' }), /lambda\.architecture: "amd64" is not one of arm64, x86_64/);
  });
});
