// Package stswire is the wire protocol of the Security Token Service: it
// parses and validates AssumeRoleWithClientGrants (MinIO),
// AssumeRoleWithWebIdentity (AWS and MinIO), AssumeRole and
// GetCallerIdentity (AWS; SigV4-signed, verified by the caller with
// internal/sigv4 over the raw body that ReadBody returns) requests, and
// writes the XML success and error documents that minio-go, aws-sdk-go-v2,
// botocore and the AWS JS SDK decode. The contract is the project's STS wire specification
// (sts-wire.md).
//
// Where the contract is silent this package follows AWS, and says so next to
// the code. The choices that differ from AWS or MinIO, and why:
//
//   - POST is served (MinIO routes STS on POST only; AWS also accepts GET),
//     and GET for the signed actions only, whose presigned URLs are GETs
//     (query string, no body). Other methods, and GET for the token
//     actions, get 405 MethodNotAllowed with "Allow: POST".
//   - Only ParseRequestBody parses the signed actions, since only its caller
//     holds the raw body the signature covers; ParseRequest answers them as
//     unsupported actions, as it did before they existed.
//   - The signed actions are parsed strictly: a parameter the action does
//     not take, known or not, is refused (the token actions ignore unknown
//     ones, as before), and SigV4's X-Amz-* parameters are accepted in the
//     query string only. AssumeRole requires RoleArn and RoleSessionName, as
//     AWS does (minio-go's STSAssumeRole sends them only when set).
//   - AssumeRole's MFA (SerialNumber, TokenCode) and ProvidedContexts are
//     refused with InvalidParameterValue, not ignored. Tags: at most 50,
//     numbered from 1 without gaps, keys unique case-insensitively (AWS's
//     InvalidParameterValue "Duplicate tag keys found"), no "aws:" prefix;
//     a tag without its Key or Value is MissingParameter; each
//     TransitiveTagKeys member must name one of the request's tags.
//     MinIO's TokenRevokeType is accepted, as minio-go sends it.
//   - The token actions take no Tags or TransitiveTagKeys: AWS's
//     AssumeRoleWithWebIdentity has none (web identity session tags come
//     from the token's https://aws.amazon.com/tags claim), and a request
//     that sends some is refused rather than silently stripped.
//   - Constraint violations answer InvalidParameterValue (MinIO's code, and
//     the contract's) where AWS answers ValidationError. Every client treats
//     both as a non-retryable client error.
//   - RoleSessionName is optional (MinIO does not require it; AWS answers
//     ValidationError without it, but every AWS SDK always sends one), and
//     validated when present.
//   - A parameter given with an empty value is treated as absent, as MinIO's
//     r.Form.Get does; a required one then answers MissingParameter.
//   - The token parameter is the action's own: Token for client grants,
//     WebIdentityToken for web identity (MinIO falls back from one to the
//     other). WebIdentityAccessToken is read for web identity only.
//   - Surrounding ASCII white space is trimmed from tokens: a JWT cannot
//     contain any, and token files written with "echo" end in a newline that
//     minio-go and aws-sdk-go-v2 send unchanged.
//   - A repeated parameter within one source (query string or body) is
//     rejected, known or not; across sources the body wins. The PolicyArns
//     list is one parameter for that purpose: the body's list replaces the
//     query's. At most MaxParameters parameters per source.
//   - Any parameter under "PolicyArns." that is not PolicyArns.member.N.arn
//     is rejected rather than ignored: silently dropping something the client
//     meant as a restriction would grant more than it asked for.
//   - A raw ';' in the form is rejected, as net/url does since Go 1.17.
//   - A non-empty body must be an unencoded form: another Content-Type, or a
//     Content-Encoding other than identity, answers InvalidParameterValue.
//     Any charset parameter is accepted (the parameters are ASCII).
//   - A body over the limit answers 413 RequestEntityTooLarge.
//   - Policy is bounded in bytes (AWS counts characters); ARNs, ProviderId
//     and TokenRevokeType may not contain control characters (AWS admits
//     tab, LF and CR).
//   - Responses carry the request id in x-amz-request-id (the contract,
//     MinIO) and x-amzn-RequestId (AWS STS; the only one aws-sdk-go-v2
//     reads), and Cache-Control: no-store, since they hold credentials.
//   - AssumedRoleUser's id is written <AssumedRoleId>, AWS's spelling, which
//     aws-sdk-go-v2 and botocore read. minio-go (and MinIO's server) spell it
//     AssumeRoleId, so minio-go leaves that one field empty; it uses only the
//     credentials.
package stswire
