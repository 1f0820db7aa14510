/**
 * The functions' code: the zips `make package` builds
 * (target/lambda/<architecture>/<binary>/bootstrap.zip), deployed as they are,
 * or a placeholder for synths that never deploy (-c placeholderCode=true).
 *
 * A packaged zip is checked at synth time: it must hold a `bootstrap` whose
 * ELF machine is `lambda.architecture`'s, so a zip built for the other
 * architecture fails the synth instead of every invocation in AWS.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LambdaArchitecture } from './config';
import { REPO_ROOT } from './paths';

/** A packaged zip that is missing or does not fit `lambda.architecture`. */
export class PackageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PackageError';
  }
}

export const LAMBDA_ARCHITECTURE: Record<LambdaArchitecture, lambda.Architecture> = {
  arm64: lambda.Architecture.ARM_64,
  x86_64: lambda.Architecture.X86_64,
};

/** ELF e_machine of each architecture. */
const ELF_MACHINE: Record<LambdaArchitecture, number> = { arm64: 183, x86_64: 62 };

/** Where `make package ARCH=<architecture>` writes the zips. */
export function defaultZipDir(repoRoot: string, architecture: LambdaArchitecture): string {
  return path.join(repoRoot, 'target', 'lambda', architecture);
}

export function packagedZip(zipDir: string, binary: string): string {
  return path.join(zipDir, binary, 'bootstrap.zip');
}

/** The entry names of a zip and the bytes of one of them (stored or deflated; no zip64). */
export function readZipEntry(file: string, name: string): { names: string[]; data?: Buffer } {
  const buf = fs.readFileSync(file);
  const fail = (why: string) => new PackageError(`${file}: ${why}`);
  // End of central directory record: in the last 22 bytes + up to 64 KiB of comment.
  let eocd = -1;
  for (let i = buf.length - 22; i >= 0 && i >= buf.length - 22 - 0xffff; i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw fail('not a zip file');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const names: string[] = [];
  let data: Buffer | undefined;
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== 0x02014b50) throw fail('damaged central directory');
    const method = buf.readUInt16LE(p + 10);
    const compressedSize = buf.readUInt32LE(p + 20);
    const nameLength = buf.readUInt16LE(p + 28);
    const extraLength = buf.readUInt16LE(p + 30);
    const commentLength = buf.readUInt16LE(p + 32);
    const localOffset = buf.readUInt32LE(p + 42);
    const entryName = buf.toString('utf8', p + 46, p + 46 + nameLength);
    names.push(entryName);
    if (entryName === name) {
      if (localOffset + 30 > buf.length || buf.readUInt32LE(localOffset) !== 0x04034b50) throw fail(`damaged local header of ${name}`);
      const start = localOffset + 30 + buf.readUInt16LE(localOffset + 26) + buf.readUInt16LE(localOffset + 28);
      const raw = buf.subarray(start, start + compressedSize);
      if (method === 0) data = raw;
      else if (method === 8) data = zlib.inflateRawSync(raw);
      else throw fail(`${name} uses compression method ${method}`);
    }
    p += 46 + nameLength + extraLength + commentLength;
  }
  return { names, data };
}

/** `arm64`, `x86_64`, or a description of what else the bytes are. */
export function elfMachine(data: Buffer): LambdaArchitecture | string {
  if (data.length < 20 || data.readUInt32BE(0) !== 0x7f454c46) return 'not an ELF executable';
  const machine = data[5] === 2 ? data.readUInt16BE(18) : data.readUInt16LE(18);
  const arch = (Object.keys(ELF_MACHINE) as LambdaArchitecture[]).find((a) => ELF_MACHINE[a] === machine);
  return arch ?? `an ELF executable for machine ${machine}`;
}

/** Throws PackageError unless `zip` holds a `bootstrap` built for `architecture`. */
export function checkPackagedZip(zip: string, architecture: LambdaArchitecture): void {
  // Relative to the repository when inside it (target/lambda/...), else as given.
  const inRepo = path.relative(REPO_ROOT, zip);
  const shown = inRepo && !inRepo.startsWith('..') && !path.isAbsolute(inRepo) ? inRepo : zip;
  const rebuild = `build it with \`make package ARCH=${architecture}\``;
  if (!fs.existsSync(zip)) {
    throw new PackageError(`${shown} is missing (lambda.architecture is ${architecture}): ${rebuild}`);
  }
  const { names, data } = readZipEntry(zip, 'bootstrap');
  if (!data) throw new PackageError(`${shown} holds no bootstrap (entries: ${names.join(', ') || 'none'}): ${rebuild}`);
  const machine = elfMachine(data);
  if (machine !== architecture) {
    throw new PackageError(
      `${shown}: its bootstrap is ${machine in ELF_MACHINE ? `an ${machine} executable` : machine}, but lambda.architecture is ${architecture}: ` +
        `${rebuild}${machine in ELF_MACHINE ? `, or set lambda.architecture to ${machine}` : ''}`,
    );
  }
}

/**
 * A placeholder `bootstrap` in its own directory under `buildDir`. It names
 * the binary so the six assets differ, and fails loudly if it ever runs.
 */
function placeholderAsset(buildDir: string, binary: string): string {
  const dir = path.join(buildDir, 'placeholder-code', binary);
  fs.mkdirSync(dir, { recursive: true });
  const script =
    '#!/bin/sh\n' +
    `echo "makenaide ${binary}: placeholder code from a synth with -c placeholderCode=true; deploy with make deploy" >&2\n` +
    'exit 1\n';
  fs.writeFileSync(path.join(dir, 'bootstrap'), script, { mode: 0o755 });
  return dir;
}

export interface FunctionCodeOptions {
  readonly binary: string;
  readonly architecture: LambdaArchitecture;
  /** Where the packaged `<binary>/bootstrap.zip` are. */
  readonly zipDir: string;
  /** A placeholder instead of the packaged zip (`-c placeholderCode=true`). */
  readonly placeholder: boolean;
  /** Where the placeholder is written. */
  readonly buildDir: string;
}

/** The packaged zip (checked), or the placeholder. */
export function functionCode(o: FunctionCodeOptions): lambda.Code {
  if (o.placeholder) return lambda.Code.fromAsset(placeholderAsset(o.buildDir, o.binary));
  const zip = packagedZip(o.zipDir, o.binary);
  checkPackagedZip(zip, o.architecture);
  return lambda.Code.fromAsset(zip);
}
