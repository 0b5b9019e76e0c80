// Package sigv4 verifies AWS Signature Version 4 requests made to this
// service (the STS: service "sts"; the versitygw IAM protocol: "iam"), in
// both forms AWS SDKs, minio-go and the AWS CLI send:
//
//   - the header form: Authorization: AWS4-HMAC-SHA256 Credential=AKID/
//     yyyymmdd/region/service/aws4_request, SignedHeaders=..., Signature=...,
//     with X-Amz-Date and, for session credentials, X-Amz-Security-Token;
//   - the query form (presigned URLs): X-Amz-Algorithm, X-Amz-Credential,
//     X-Amz-Date, X-Amz-SignedHeaders, X-Amz-Signature and optionally
//     X-Amz-Expires and X-Amz-Security-Token in the query string.
//
// Use: Parse (no secret, no clock) gives the access key id, the session
// token and the scope; the caller looks up the secret (a long-term
// principal's, or a session's after verifying its token), optionally calls
// CheckTime first, then Verify with the body exactly as received. A caller
// whose one access key id has one fixed secret (the s3_iam gateway
// credential) may keep a Signer across calls with VerifyWith, which then
// derives the signing key once a day instead of at every request.
//
// What real clients send to STS (pinned by this package's tests):
//
//   - aws-sdk-go-v2 (service/sts v1.52): POST, form body, signed headers
//     amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;
//     host;x-amz-date (;x-amz-security-token), no X-Amz-Content-Sha256, the
//     body's SHA-256 signed. Its presigned GetCallerIdentity is a GET with
//     the parameters and X-Amz-* in the query, host signed, the empty body's
//     hash signed, no X-Amz-Expires unless the caller adds one.
//   - minio-go (pkg/credentials STSAssumeRole): POST, form body, signed
//     content-type;host;x-amz-date (;x-amz-security-token); it computes
//     X-Amz-Content-Sha256 but deletes it before sending; the region is
//     its Location, "" when unset.
//   - botocore 1.29 / AWS CLI: POST, form body, signed content-type;host;
//     x-amz-date (;x-amz-security-token); amz-sdk-* added after signing;
//     X-Amz-Content-Sha256 only for S3. Its generate_presigned_url signs the
//     operation's method (POST for STS) unless given HttpMethod="GET", with
//     X-Amz-Expires, host signed, the empty body's hash.
//   - the JS SDK v3 (@aws-sdk/client-sts 3.1177): signs amz-sdk-invocation-id;
//     amz-sdk-request;content-length;content-type;host;x-amz-content-sha256;
//     x-amz-date(;x-amz-security-token);x-amz-user-agent, and sends
//     X-Amz-Content-Sha256 (the body's hash).
//
// botocore's and the JS SDK's requests are recorded in
// internal/stswire/testdata/clients and verified there.
//
// So the payload hash is always the body's SHA-256; X-Amz-Content-Sha256 is
// optional and, when sent, must be that hash (UNSIGNED-PAYLOAD and
// STREAMING-* are refused in the header form: the body holds the STS
// parameters). A presigned request with an empty body may have signed
// UNSIGNED-PAYLOAD instead (S3-style presigners).
//
// Strictness, and where it departs from AWS:
//
//   - One spelling of the Authorization header: the three components in
//     the order above, separated by ", " or "," (OPA's own providers.aws
//     signer writes ","). AWS is more lenient.
//   - SignedHeaders must be canonical (lower case, sorted, unique) and
//     include host (and x-amz-date in the header form); a session token
//     header must be signed; X-Amz-Date must be yyyymmddThhmmssZ (the Date
//     header is not accepted in its place).
//   - A component given twice, both forms at once, or a query string that
//     is not valid form encoding (a raw ';', a bad escape) is refused.
//   - The region is not checked by Parse; an empty region is accepted
//     (minio-go). A caller may require one with CheckRegion.
//   - The clock: X-Amz-Date within MaxClockSkew of now in both directions;
//     a presigned request with X-Amz-Expires (1..604800) is valid from
//     date-skew to date+expires.
//
// The signature is recomputed by aws-sdk-go-v2's signer
// (github.com/aws/aws-sdk-go-v2/aws/signer/v4), SignHTTP for the header
// form and PresignHTTP for the query form, over a copy of the request that
// carries only the signed headers, the Host as received and the query
// string as received (less X-Amz-Signature). Consequences of using it: a
// signature over user-agent, expect, transfer-encoding, x-amzn-trace-id or
// a zero content-length cannot be recomputed (the SDK never signs them) and
// is refused with SignatureDoesNotMatch; an IPv6 literal Host without a port
// is signed without its brackets, as the SDK's own clients do.
//
// Errors are *Error with AWS's codes; messages never hold a secret, the
// session token or a signature.
package sigv4
