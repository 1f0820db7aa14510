/**
 * Encryption at rest with one customer managed KMS key (config `kmsKeyArn`):
 * the alarm topic (the notification text), every log group of the stack
 * (run records; the job output's too unless `jobOutput.kmsKeyArn` names its
 * own key) and the six Lambda environments (configuration). None of them
 * holds a secret by design (lib/config.ts); the key gives the operator
 * control over who can read them and a KMS audit trail.
 *
 * The key is imported, so the stack cannot edit its key policy. What an
 * identity policy can grant, the stack grants: the state machine role may use
 * the key through SNS for the alarm topic only (its failure notification is
 * an `sns:Publish` to an encrypted topic; SNS documents kms:GenerateDataKey
 * and kms:Decrypt for a publisher). The Lambda roles get nothing: Lambda
 * decrypts the environment with a grant it creates on the key at deploy time
 * with the deploying principal's permissions (kms:CreateGrant, kms:Encrypt,
 * kms:Decrypt), not with the execution role. The service principals need the
 * key policy statements `keyPolicyStatements` renders (cdk/README.md,
 * "Encryption with a KMS key"; the stack outputs them as KeyPolicyStatements).
 *
 * With a key the encrypted resources get fixed names derived from the stack
 * name (like the job output group), so the key policy can name them exactly
 * before the first deploy: CloudFormation cannot create a log group whose key
 * CloudWatch Logs may not use.
 */
import { OrchestratorConfig } from './config';
import { FUNCTIONS, FunctionBinary } from './definition';

/** The log group of a function or of the state machine, when `kmsKeyArn` is set. */
export function encryptedLogGroupName(stackName: string, of: FunctionBinary | 'state-machine'): string {
  return `/makenaide/${stackName}/${of}`;
}

/** The alarm topic's name when `kmsKeyArn` is set (the key policy names the topic by ARN). */
export function encryptedTopicName(stackName: string): string {
  return `${stackName}-alarms`;
}

/** Where the stack is deployed, as strings (tokens in an environment-agnostic stack). */
export interface KeyPolicyEnv {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  /** amazonaws.com, or amazonaws.com.cn in the China regions. */
  readonly urlSuffix: string;
}

/** The key of each group of the stack: the stack key, except the job output's own key. */
export function logGroupKeys(c: Pick<OrchestratorConfig, 'stackName' | 'kmsKeyArn' | 'jobOutput'>): { name: string; key: string | null }[] {
  const groups: { name: string; key: string | null }[] = [
    ...FUNCTIONS.map((f) => ({ name: encryptedLogGroupName(c.stackName, f.binary), key: c.kmsKeyArn })),
    { name: encryptedLogGroupName(c.stackName, 'state-machine'), key: c.kmsKeyArn },
  ];
  if (c.jobOutput.cloudWatch) groups.push({ name: `/makenaide/${c.stackName}/job-output`, key: c.jobOutput.kmsKeyArn ?? c.kmsKeyArn });
  return groups;
}

/**
 * The statements the key policy of `kmsKeyArn` needs for this stack, or []
 * without a key:
 *
 * - CloudWatch Logs (`logs.<region>.<urlSuffix>`) encrypts and decrypts the
 *   log groups that use the key, each named by its ARN in the encryption
 *   context (`kms:EncryptionContext:aws:logs:arn`); the actions are those
 *   the CloudWatch Logs guide documents.
 * - CloudWatch (`cloudwatch.amazonaws.com`) publishes the alarms to the
 *   encrypted topic: kms:Decrypt and kms:GenerateDataKey*, as the SNS guide
 *   documents for AWS service event sources, only for this topic (SNS sets
 *   the topic's ARN as the encryption context `aws:sns:topicArn`).
 *
 * No EventBridge statement: no rule of the stack targets the topic (the
 * guard rules start the state machine), so nothing publishes to it through
 * EventBridge.
 */
export function keyPolicyStatements(
  c: Pick<OrchestratorConfig, 'stackName' | 'kmsKeyArn' | 'jobOutput'>,
  env: KeyPolicyEnv,
): Record<string, unknown>[] {
  if (!c.kmsKeyArn) return [];
  const groupArn = (name: string) => `arn:${env.partition}:logs:${env.region}:${env.account}:log-group:${name}`;
  const topicArn = `arn:${env.partition}:sns:${env.region}:${env.account}:${encryptedTopicName(c.stackName)}`;
  return [
    {
      Sid: 'MakenaideLogGroups',
      Effect: 'Allow',
      Principal: { Service: `logs.${env.region}.${env.urlSuffix}` },
      Action: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      Resource: '*',
      Condition: {
        ArnEquals: {
          'kms:EncryptionContext:aws:logs:arn': logGroupKeys(c)
            .filter((g) => g.key === c.kmsKeyArn)
            .map((g) => groupArn(g.name)),
        },
      },
    },
    {
      Sid: 'MakenaideAlarmsToTheTopic',
      Effect: 'Allow',
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      Resource: '*',
      Condition: { StringEquals: { 'kms:EncryptionContext:aws:sns:topicArn': topicArn } },
    },
  ];
}
