/**
 * The job's SSM Command document: statemachine/job-document.json filled with
 * the configured `jobCommands` and `jobWorkingDirectory`. The local sandbox
 * fills the same file the same way (tests/sandbox/jobdocument.py). The stack
 * creates it as AWS::SSM::Document and `ssm_launch` sends it by name
 * (JOB_DOCUMENT_NAME): the commands live in the document, not in any
 * function's environment or input, and a change to them is a stack deploy.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './paths';

export const JOB_DOCUMENT_FILE = path.join(REPO_ROOT, 'statemachine', 'job-document.json');

/** SSM's limit on a document's content (CreateDocument, `Content`). */
export const JOB_DOCUMENT_MAX_BYTES = 64 * 1024;

/** SSM reserves these document name prefixes for AWS (CreateDocument, `Name`). */
export const RESERVED_DOCUMENT_PREFIXES = ['aws', 'amazon', 'amzn'];

const PLACEHOLDER = /\$\{[^}]*\}/;

export class JobDocumentError extends Error {}

interface JobSource {
  readonly jobCommands: readonly string[];
  readonly jobWorkingDirectory: string;
}

/**
 * Fills the template: a string value that is exactly `${JobCommands}` becomes
 * the command list, `${JobWorkingDirectory}` the directory; `$comment` keys go.
 * Any other placeholder, or one inside a longer string, is an error.
 */
export function fillJobDocument(template: unknown, job: JobSource): Record<string, unknown> {
  const values: Record<string, unknown> = {
    '${JobCommands}': [...job.jobCommands],
    '${JobWorkingDirectory}': job.jobWorkingDirectory,
  };
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(
        Object.entries(node)
          .filter(([key]) => key !== '$comment')
          .map(([key, value]) => [key, walk(value)]),
      );
    }
    if (typeof node === 'string' && PLACEHOLDER.test(node)) {
      if (!(node in values)) throw new JobDocumentError(`${JOB_DOCUMENT_FILE}: ${JSON.stringify(node)} is not a whole-value placeholder the deployment fills`);
      return values[node];
    }
    return node;
  };
  return walk(template) as Record<string, unknown>;
}

/** The document content for a deployment. */
export function jobDocumentContent(job: JobSource, file = JOB_DOCUMENT_FILE): Record<string, unknown> {
  return fillJobDocument(JSON.parse(fs.readFileSync(file, 'utf8')), job);
}

/** Its bytes as SSM counts them (the JSON the template carries). */
export function jobDocumentSize(job: JobSource): number {
  return Buffer.byteLength(JSON.stringify(jobDocumentContent(job)));
}

/**
 * A fixed name, so that a deploy that changes the commands adds a version of
 * the same document (`UpdateMethod: NewVersion`) and a redrive of a run sent
 * before it still finds its command by document name.
 */
export function jobDocumentName(c: { readonly stackName: string }): string {
  return `${c.stackName}-Job`;
}
