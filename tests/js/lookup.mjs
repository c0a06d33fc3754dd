// Calls KMS CreateKey, then CloudTrail LookupEvents (EventName CreateKey), with the AWS SDK for
// JavaScript v3 against the endpoint in HSMKMS_ENDPOINT; prints what it got as one JSON line.
import { CloudTrailClient, LookupEventsCommand } from "@aws-sdk/client-cloudtrail";
import { CreateKeyCommand, KMSClient } from "@aws-sdk/client-kms";

const config = {
  endpoint: process.env.HSMKMS_ENDPOINT,
  region: process.env.AWS_REGION ?? "us-east-1",
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  },
  maxAttempts: 1,
};

const targets = [];
const recordTarget = (next) => async (args) => {
  targets.push(args.request.headers["x-amz-target"]);
  return next(args);
};

const kms = new KMSClient(config);
kms.middlewareStack.add(recordTarget, { step: "finalizeRequest", name: "recordTarget" });
const trail = new CloudTrailClient(config);
trail.middlewareStack.add(recordTarget, { step: "finalizeRequest", name: "recordTarget" });

const created = await kms.send(new CreateKeyCommand({ Description: "from the JS SDK" }));
const found = await trail.send(new LookupEventsCommand({
  LookupAttributes: [{ AttributeKey: "EventName", AttributeValue: "CreateKey" }],
}));
console.log(JSON.stringify({
  targets,
  keyArn: created.KeyMetadata.Arn,
  events: found.Events.map((e) => ({
    EventName: e.EventName,
    EventSource: e.EventSource,
    ReadOnly: e.ReadOnly,
    EventTime: e.EventTime.toISOString(),
    Username: e.Username,
    AccessKeyId: e.AccessKeyId,
    Resources: e.Resources,
    CloudTrailEvent: JSON.parse(e.CloudTrailEvent),
  })),
}));
