// The AWS SDK for JavaScript v3 (test/clients/aws-sdk-js, pinned) as an
// unchanged client: credentials from its default chain (a profile's
// credential_process or web identity settings, or the container
// provider), then S3 on the gateway. Driven by test/e2e/credentials, run
// from stdin in test/clients/aws-sdk-js so that its node_modules resolve;
// prints one JSON object with what happened.
//
//   S3_URL=... BUCKET=b KEY=k OUTSIDE=o [AWS_PROFILE=p] [LOOP_SECONDS=n] node --input-type=module - < client.mjs
import { S3Client, PutObjectCommand, GetObjectCommand } from "@aws-sdk/client-s3";
import { readFileSync } from "node:fs";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const version = (p) => JSON.parse(readFileSync(`node_modules/${p}/package.json`, "utf8")).version;
const out = { versions: { "client-s3": version("@aws-sdk/client-s3"), "credential-provider-node": version("@aws-sdk/credential-provider-node") } };
const failure = (e) => e.name;
const outcome = async (name, f) => {
  try {
    out[name] = { ok: true, value: await f() };
  } catch (e) {
    out[name] = { ok: false, error: failure(e), message: String(e.message ?? "") };
  }
};

const s3 = new S3Client({ region: "us-east-1", endpoint: env("S3_URL"), forcePathStyle: true, maxAttempts: 1 });
const bucket = env("BUCKET"), key = env("KEY");
const accessKey = async () => (await s3.config.credentials()).accessKeyId;

await outcome("put", async () => { await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "from the AWS SDK for JavaScript" })); return true; });
await outcome("get", async () => (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body.transformToString());
await outcome("outside", async () => { await s3.send(new PutObjectCommand({ Bucket: bucket, Key: env("OUTSIDE"), Body: "x" })); return true; });
await outcome("access_key", accessKey);

const loop = Number(process.env.LOOP_SECONDS || 0);
if (loop) {
  const keys = [], failures = [];
  let rounds = 0;
  const end = Date.now() + loop * 1000;
  while (Date.now() < end) {
    rounds++;
    try {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `round ${rounds}` }));
      const k = await accessKey();
      if (!keys.includes(k)) keys.push(k);
    } catch (e) {
      failures.push(failure(e) + ": " + String(e.message ?? ""));
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
  out.loop = { rounds, failures, access_keys: keys };
}
console.log(JSON.stringify(out));
