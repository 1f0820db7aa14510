import * as path from 'node:path';

/** The repository root: cdk/ is one level below it (also from cdk/dist/lib). */
export const REPO_ROOT = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..');
