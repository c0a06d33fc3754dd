// With the AWS SDK for JavaScript v3 against the endpoint in HSMKMS_ENDPOINT: calls KMS
// CreateKey, then CloudTrail LookupEvents: the CreateKey events since a minute before that key
// was created, and the CreateKey events between HSMKMS_WINDOW_START and HSMKMS_WINDOW_END (ISO
// times) two at a time, following the first page's NextToken once. The SDK serialises the Date
// times itself. Prints what it got as one JSON line.
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

const createKey = [{ AttributeKey: "EventName", AttributeValue: "CreateKey" }];
const brief = (e) => ({
  EventName: e.EventName,
  EventSource: e.EventSource,
  ReadOnly: e.ReadOnly,
  EventTime: e.EventTime.toISOString(),
  Username: e.Username,
  AccessKeyId: e.AccessKeyId,
  Resources: e.Resources,
  CloudTrailEvent: JSON.parse(e.CloudTrailEvent),
});

const created = await kms.send(new CreateKeyCommand({ Description: "from the JS SDK" }));
const found = await trail.send(new LookupEventsCommand({
  LookupAttributes: createKey,
  StartTime: new Date(created.KeyMetadata.CreationDate.getTime() - 60_000),
}));

const window = {
  LookupAttributes: createKey,
  StartTime: new Date(process.env.HSMKMS_WINDOW_START),
  EndTime: new Date(process.env.HSMKMS_WINDOW_END),
  MaxResults: 2,
};
const pages = [];
const first = await trail.send(new LookupEventsCommand(window));
pages.push(first);
if (first.NextToken !== undefined) {
  pages.push(await trail.send(new LookupEventsCommand({ ...window, NextToken: first.NextToken })));
}

console.log(JSON.stringify({
  targets,
  keyArn: created.KeyMetadata.Arn,
  events: found.Events.map(brief),
  pages: pages.map((p) => ({
    events: p.Events.map(brief),
    hasNextToken: p.NextToken !== undefined,
  })),
}));
