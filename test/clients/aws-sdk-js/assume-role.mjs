// The AWS SDK for JavaScript v3, unchanged, against opa-sts and an S3
// server: AssumeRole signed with a long-term principal's keys (a catalog
// vending per-table credentials), GetCallerIdentity with the vended
// session, then S3 reads inside and outside the table the session is
// tagged with. Refusals first: a wrong secret, a wrong ExternalId, a
// forged session. Driven by test/e2e/assumerole (TestMore, "the AWS SDK
// for JavaScript"); prints one JSON object with what happened.
//
//   STS_URL=http://127.0.0.1:P S3_URL=http://127.0.0.1:Q AK=AKIA... SK=... EXT=<external id> node assume-role.mjs
import { STSClient, AssumeRoleCommand, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { S3Client, GetObjectCommand } from "@aws-sdk/client-s3";

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
    out[name] = { ok: false, error: e.name, code: e.Code ?? e.Error?.Code, status: e.$metadata?.httpStatusCode };
  }
};
const sts = (credentials) => new STSClient({ region: "us-east-1", endpoint: env("STS_URL"), credentials, maxAttempts: 1 });
const roleArn = "arn:aws:iam::000000000000:role/table-access";
const assume = (client, externalId) => client.send(new AssumeRoleCommand({
  RoleArn: roleArn, RoleSessionName: "aws-sdk-js", ExternalId: externalId,
  Tags: [{ Key: "table", Value: "orders" }], DurationSeconds: 900,
}));
const principal = { accessKeyId: env("AK"), secretAccessKey: env("SK") };

// Refusals first.
await outcome("badSecret", async () => { await assume(sts({ ...principal, secretAccessKey: principal.secretAccessKey + "x" }), env("EXT")); });
await outcome("badExternalId", async () => { await assume(sts(principal), "guess"); });
await outcome("forgedSession", async () => {
  await sts({ accessKeyId: "ASIAFORGED0000000001", secretAccessKey: principal.secretAccessKey, sessionToken: "not-a-session-token" })
    .send(new GetCallerIdentityCommand({}));
});

await outcome("assume", async () => {
  const r = await assume(sts(principal), env("EXT"));
  return {
    accessKeyId: r.Credentials.AccessKeyId, expiration: r.Credentials.Expiration.toISOString(),
    arn: r.AssumedRoleUser.Arn, assumedRoleId: r.AssumedRoleUser.AssumedRoleId, packedPolicySize: r.PackedPolicySize, _c: r.Credentials,
  };
});
await outcome("principalIdentity", async () => {
  const r = await sts(principal).send(new GetCallerIdentityCommand({}));
  return { arn: r.Arn, userId: r.UserId, account: r.Account };
});

if (out.assume.ok) {
  const c = out.assume.value._c;
  delete out.assume.value._c;
  const vended = { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
  await outcome("identity", async () => {
    const r = await sts(vended).send(new GetCallerIdentityCommand({}));
    return { arn: r.Arn, userId: r.UserId, account: r.Account };
  });
  const s3 = new S3Client({ region: "us-east-1", endpoint: env("S3_URL"), forcePathStyle: true, credentials: vended, maxAttempts: 1 });
  const get = async (key) => (await s3.send(new GetObjectCommand({ Bucket: "lake", Key: key }))).Body.transformToString();
  await outcome("getCustomers", () => get("customers/part-0.parquet"));
  await outcome("getOrders", () => get("orders/part-0.parquet"));
}
console.log(JSON.stringify(out));
