// The AWS SDK for JavaScript v3, unchanged, against opa-sts and an S3
// server: AssumeRoleWithWebIdentity, then object operations with the
// temporary credentials. Driven by test/e2e/enforce (TestAWSSDKForJavaScript);
// prints one JSON object with what happened.
//
//   STS_URL=http://127.0.0.1:P S3_URL=http://127.0.0.1:Q TOKEN=<jwt> BUCKET=b PREFIX=home/x/ node flow.mjs
import { STSClient, AssumeRoleWithWebIdentityCommand } from "@aws-sdk/client-sts";
import { S3Client, PutObjectCommand, GetObjectCommand, ListObjectsV2Command, DeleteObjectCommand } from "@aws-sdk/client-s3";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const out = {};
const outcome = async (name, f) => {
  try {
    out[name] = { ok: true, value: await f() };
  } catch (e) {
    out[name] = { ok: false, error: e.name, status: e.$metadata?.httpStatusCode };
  }
};

const sts = new STSClient({ region: "us-east-1", endpoint: env("STS_URL") });
await outcome("assume", async () => {
  const r = await sts.send(new AssumeRoleWithWebIdentityCommand({
    RoleArn: "arn:aws:iam::000000000000:role/js", RoleSessionName: "aws-sdk-js",
    WebIdentityToken: env("TOKEN"), DurationSeconds: 900,
  }));
  return { accessKeyId: r.Credentials.AccessKeyId, expiration: r.Credentials.Expiration.toISOString(), arn: r.AssumedRoleUser.Arn, _c: r.Credentials };
});
await outcome("badToken", async () => {
  await sts.send(new AssumeRoleWithWebIdentityCommand({
    RoleArn: "arn:aws:iam::000000000000:role/js", RoleSessionName: "aws-sdk-js", WebIdentityToken: env("TOKEN").slice(0, -4) + "AAAA",
  }));
});

if (out.assume.ok) {
  const c = out.assume.value._c;
  delete out.assume.value._c;
  const s3 = new S3Client({
    region: "us-east-1", endpoint: env("S3_URL"), forcePathStyle: true,
    credentials: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken },
  });
  const bucket = env("BUCKET"), key = env("PREFIX") + "js.txt";
  await outcome("put", async () => { await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "from the AWS SDK for JavaScript" })); });
  await outcome("get", async () => (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body.transformToString());
  await outcome("list", async () => ((await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: env("PREFIX") }))).Contents ?? []).map((o) => o.Key));
  await outcome("putOutside", async () => { await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "elsewhere/js.txt", Body: "x" })); });
  await outcome("delete", async () => { await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })); });
}
console.log(JSON.stringify(out));
