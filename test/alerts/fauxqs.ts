/** Start the fauxqs SNS/SQS emulator in-process on a free port, with a topic subscribed by a queue. */
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { ReceiveMessageCommand, SQSClient, DeleteMessageCommand } from '@aws-sdk/client-sqs';

export const AWS_TEST_CREDS = { accessKeyId: 'AKIATESTTESTTEST', secretAccessKey: 'fauxqs-secret-access-key-do-not-leak' };

export interface SnsFixture {
  server: FauxqsServer;
  endpoint: string;
  topicArn: string;
  queueUrl: string;
  /** Receive (and delete) what reached the queue: the SNS envelopes, parsed. */
  drain(waitSec?: number): Promise<{ Subject?: string; Message: string; MessageAttributes?: Record<string, { Value: string }> }[]>;
  close(): Promise<void>;
}

export async function startSnsFixture(name = 'quietwatch-fallback'): Promise<SnsFixture> {
  const server = await startFauxqs({ port: 0, logger: false });
  const { queueUrl } = server.createQueue(`${name}-q`);
  const { topicArn } = server.createTopic(name);
  server.subscribe({ topic: name, queue: `${name}-q` });
  const sqs = new SQSClient({ endpoint: server.address, region: 'us-east-1', credentials: AWS_TEST_CREDS });
  return {
    server,
    endpoint: server.address,
    topicArn,
    queueUrl,
    async drain(waitSec = 0) {
      const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: waitSec }));
      const msgs = out.Messages ?? [];
      for (const m of msgs) await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle! }));
      return msgs.map((m) => JSON.parse(m.Body!));
    },
    async close() {
      sqs.destroy();
      await server.stop();
    },
  };
}
