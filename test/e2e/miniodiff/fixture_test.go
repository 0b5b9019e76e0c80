package miniodiff_test

// The IAM configuration both MinIO servers get: canned policies, users,
// groups, attachments, service accounts, buckets and objects, and the
// OpenID clients whose tokens become STS sessions. It is written the way
// a MinIO operator writes it (mc admin policy create, user add, group add,
// policy attach, svcacct add), once, on MinIO A; MinIO B receives it by
// `mc admin cluster iam import` of A's export.

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"sort"
)

// Policies are MinIO canned policies (the JSON given to `mc admin policy
// create`). Each exercises something the migration promises.
var cannedPolicies = map[string]string{
	// ${aws:username} homes with an s3:prefix-conditioned listing.
	"home-user": `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":["arn:aws:s3:::data/home/${aws:username}/*"]},
	  {"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::data"],"Condition":{"StringLike":{"s3:prefix":["","home/","home/${aws:username}/*"]}}},
	  {"Effect":"Allow","Action":["s3:GetBucketLocation","s3:ListAllMyBuckets"],"Resource":["arn:aws:s3:::*"]}]}`,
	// ${jwt:sub} homes, with an explicit Deny inside them.
	"home-jwt": `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":["arn:aws:s3:::data/oidc/${jwt:sub}/*"]},
	  {"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::data"],"Condition":{"StringLike":{"s3:prefix":["oidc/${jwt:sub}/*"]}}},
	  {"Effect":"Deny","Action":["s3:DeleteObject"],"Resource":["arn:aws:s3:::data/oidc/*/keep/*"]}]}`,
	// A read-only bucket.
	"readonly-public": `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket","s3:GetBucketLocation"],"Resource":["arn:aws:s3:::public","arn:aws:s3:::public/*"]}]}`,
	// s3:* on bucket/* only, as MinIO's own examples write "read-write on a bucket".
	"scratch-rw": `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::scratch/*"]}]}`,
	// s3:Get* with a Deny carved out, and a StringNotLike s3:prefix listing.
	"shared-get": `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["s3:Get*"],"Resource":["arn:aws:s3:::shared/*"]},
	  {"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::shared"],"Condition":{"StringNotLike":{"s3:prefix":["secret/*","secret/"]}}},
	  {"Effect":"Deny","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::shared/secret/*"]}]}`,
	// aws:SourceIp: IpAddress allows, NotIpAddress denies.
	"office-ip": `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":["arn:aws:s3:::reports/*"],"Condition":{"IpAddress":{"aws:SourceIp":["10.1.0.0/16"]}}},
	  {"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::reports"],"Condition":{"IpAddress":{"aws:SourceIp":["10.1.0.0/16","127.0.0.1/32"]}}},
	  {"Effect":"Deny","Action":["s3:PutObject","s3:DeleteObject"],"Resource":["arn:aws:s3:::reports/*"],"Condition":{"NotIpAddress":{"aws:SourceIp":["10.1.5.0/24"]}}}]}`,
	// aws:SecureTransport: false on A and B (plain HTTP), true on A' and
	// B' (HTTPS). On vault, Allows that need it true and a Deny when it is
	// false: the Deny alone refuses over plain HTTP what is allowed
	// without a condition (GetObjectTagging; ListBucket and home-user's
	// GetBucketLocation too: MinIO matches a request on the bucket itself
	// as the resource "vault/", which vault/* matches, minio/pkg
	// policy/statement.go IsAllowed). On logs, an Allow that needs it true
	// and no Deny. (secureTransportProbes.)
	"vault-secure": `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::vault/*"],"Condition":{"Bool":{"aws:SecureTransport":["true"]}}},
	  {"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::vault"]},
	  {"Effect":"Allow","Action":["s3:GetObjectTagging"],"Resource":["arn:aws:s3:::vault/*"]},
	  {"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::logs/*"],"Condition":{"Bool":{"aws:SecureTransport":["true"]}}},
	  {"Effect":"Deny","Action":["s3:*"],"Resource":["arn:aws:s3:::vault/*"],"Condition":{"Bool":{"aws:SecureTransport":["false"]}}}]}`,
	// A Deny-only policy.
	"no-deletes": `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Deny","Action":["s3:DeleteObject"],"Resource":["arn:aws:s3:::*"]}]}`,
	// NotResource.
	"all-but-vault": `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["s3:GetObject"],"NotResource":["arn:aws:s3:::vault/*","arn:aws:s3:::shared/secret/*"]}]}`,
	// Read access to logs, with a Deny on 2024's. (NotAction cannot be
	// exercised against this MinIO: a statement with NotAction and no
	// Action is created, but MinIO cannot marshal it back, "json: error
	// calling MarshalJSON for type policy.ActionSet: empty actions not
	// allowed", so `mc admin policy info` and `mc admin cluster iam
	// export` fail, and a service account or STS session policy with
	// NotAction is refused.)
	"logs-readers": `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["s3:GetObject","s3:GetObjectTagging","s3:ListBucket","s3:GetBucketLocation","s3:GetBucketPolicy"],"Resource":["arn:aws:s3:::logs","arn:aws:s3:::logs/*"]},
	  {"Effect":"Deny","Action":["s3:GetObjectTagging"],"Resource":["arn:aws:s3:::logs/2024/*"]}]}`,
	// ${jwt:groups} in a Resource and in a condition value (the deliberate
	// difference for multi-valued groups).
	"team-dirs": `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::teams/${jwt:groups}/*"]},
	  {"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::teams"],"Condition":{"StringLike":{"s3:prefix":["${jwt:groups}/*"]}}}]}`,
	// A jwt:groups StringEquals condition.
	"eng-only": `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::teama","arn:aws:s3:::teama/*"],"Condition":{"StringEquals":{"jwt:groups":["eng"]}}}]}`,
	// A custom string claim (jwt:email) as a condition and as a variable.
	"corp-email": `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::shared/corp/*"],"Condition":{"StringLike":{"jwt:email":["*@corp.example"]}}},
	  {"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::shared/people/${jwt:email}/*"]}]}`,
	// An admin action (no Resource, as MinIO writes admin statements).
	"ops-admin": `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["admin:ServerInfo"]}]}`,
	// The role policy of the second OpenID provider.
	"role-shared": `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::shared","arn:aws:s3:::shared/*"]},
	  {"Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::shared/uploads/${jwt:sub}/*"]},
	  {"Effect":"Deny","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::shared/secret/*"]}]}`,
}

// secureTransportProbe is a request aws:SecureTransport decides for the
// identities of a name (frank: the user and his AssumeRole session, both
// holding vault-secure), with the answer both servers of each transport
// must give: every such request of the matrix must answer so (whatever
// its source address), and each must be made.
type secureTransportProbe struct {
	identity    string
	req         request // Op, Bucket, Key
	http, https string  // the outcome code over plain HTTP and over HTTPS
	why         string
}

var secureTransportProbes = []secureTransportProbe{
	{"frank", request{Op: opGetObject, Bucket: "logs", Key: "app.log"}, "AccessDenied", allowed,
		"the Allow needs SecureTransport true, and no Deny applies"},
	{"frank", request{Op: opGetObjectTagging, Bucket: "vault", Key: "secret.bin"}, "AccessDenied", allowed,
		"an Allow without a condition: the Deny on SecureTransport false alone refuses it"},
	{"frank", request{Op: opGetBucketLocation, Bucket: "vault"}, "AccessDenied", allowed,
		"home-user allows it on every bucket: the Deny on SecureTransport false (vault/*, which a request on the bucket, vault/, matches) alone refuses it"},
	{"frank", request{Op: opGetObject, Bucket: "vault", Key: "secret.bin"}, "AccessDenied", allowed,
		"the Allow needs SecureTransport true, and the Deny on false refuses it too"},
	{"frank", request{Op: opPutObject, Bucket: "vault", Key: "new.bin"}, "AccessDenied", allowed,
		"the Allow needs SecureTransport true, and the Deny on false refuses it too"},
}

func (p secureTransportProbe) matches(id *identity, r request) bool {
	return id.Name == p.identity && r.Op == p.req.Op && r.Bucket == p.req.Bucket && r.Key == p.req.Key
}

// The policy that uses ${jwt:groups} as a variable (see deliberate.go's
// predicate) and the role policy of the role provider.
const (
	groupsVariablePolicy = "team-dirs"
	rolePolicy           = "role-shared,team-dirs"
)

type minioUser struct {
	name, secret string
	policies     []string // attached directly
	disabled     bool
}

var minioUsers = []minioUser{
	{name: "alice", secret: "alice-secret-0123456789", policies: []string{"home-user", "readonly-public"}},
	{name: "bob", secret: "bob-secret-0123456789", policies: []string{"home-user"}},
	{name: "carol", secret: "carol-secret-0123456789"},
	{name: "dave", secret: "dave-secret-0123456789", policies: []string{"readonly-public"}},
	{name: "erin", secret: "erin-secret-0123456789", policies: []string{"all-but-vault"}},
	{name: "frank", secret: "frank-secret-0123456789", policies: []string{"vault-secure", "scratch-rw", "ops-admin", "home-user"}},
	{name: "grace", secret: "grace-secret-0123456789", policies: []string{"readonly-public"}, disabled: true},
	{name: "henry", secret: "henry-secret-0123456789"},
}

type minioGroup struct {
	name     string
	members  []string
	policies []string
	disabled bool
}

var minioGroups = []minioGroup{
	{name: "engineers", members: []string{"bob", "carol", "erin"}, policies: []string{"shared-get", "office-ip"}},
	{name: "auditors", members: []string{"carol"}, policies: []string{"logs-readers", "readonly-public"}},
	// MinIO gives a member of a disabled group no policy at all, its own
	// included (cmd/iam-store.go policyDBGet): dave has readonly-public.
	{name: "contractors", members: []string{"dave"}, policies: []string{"scratch-rw"}, disabled: true},
	{name: "nodelete", members: []string{"erin"}, policies: []string{"no-deletes"}},
	{name: "interns", members: []string{"henry"}},
}

type serviceAccount struct {
	accessKey, secret, parent string
	policy                    string // embedded policy ("" inherits the parent's)
}

var serviceAccounts = []serviceAccount{
	{accessKey: "svc-alice-full", secret: "svc-alice-full-secret-0123", parent: "alice"},
	{accessKey: "svc-alice-narrow", secret: "svc-alice-narrow-secret-0123", parent: "alice", policy: `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::public/*","arn:aws:s3:::data/home/alice/*"]},
	  {"Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::public"]}]}`},
	{accessKey: "svc-bob", secret: "svc-bob-secret-0123456789", parent: "bob"},
	{accessKey: "svc-carol-deny", secret: "svc-carol-deny-secret-0123", parent: "carol", policy: `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]},
	  {"Effect":"Deny","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::logs/2024/*"]}]}`},
	{accessKey: "svc-dave", secret: "svc-dave-secret-0123456789", parent: "dave"},
	{accessKey: "svc-root-full", secret: "svc-root-full-secret-0123", parent: rootParent},
	{accessKey: "svc-root-narrow", secret: "svc-root-narrow-secret-0123", parent: rootParent, policy: `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::public","arn:aws:s3:::public/*"]}]}`},
}

// rootParent stands for MinIO's root user as a service account's parent.
const rootParent = "<root>"

// Session policies of AssumeRole and web-identity sessions.
const (
	bobSessionPolicy = `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::shared","arn:aws:s3:::shared/*","arn:aws:s3:::reports/*"]}]}`
	annSessionPolicy = `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::data/oidc/ann/*"]},
	  {"Effect":"Deny","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::data/oidc/ann/a.txt"]}]}`
)

// OpenID settings common to both servers. The claim-based provider is the
// default one; the role-policy provider is named.
const (
	claimClientID = "minio-claims"
	roleClientID  = "minio-role"
	roleProvider  = "ROLES" // MINIO_IDENTITY_OPENID_<SETTING>_ROLES
	claimPrefix   = "https://minio.example/"
	claimName     = "policy"
	policyClaim   = claimPrefix + claimName
	oidcSecret    = "oidc-client-secret-0123456789"
	// minioClientSecret is MinIO's OpenID client secret (for its console
	// login): it is in the environment file and must not reach the data.
	minioClientSecret = "minio-openid-client-secret-0123456789"
)

// oidcClient is a client of the OpenID provider whose client_credentials
// tokens carry the claims a test identity needs.
type oidcClient struct {
	id       string
	role     bool           // a token of the role-policy provider (aud minio-role)
	claims   map[string]any // sub, groups, email, the policy claim...
	grants   bool           // also through AssumeRoleWithClientGrants
	session  string         // a web-identity session policy
	svcOf    bool           // a service account is created by its session
	expected string         // why this identity exists (test messages)
}

var oidcClients = []oidcClient{
	{id: "ann", claims: map[string]any{"sub": "ann", policyClaim: "home-jwt", "groups": []string{"eng"}, "email": "ann@corp.example"},
		session: annSessionPolicy, expected: "one policy; a session policy narrows"},
	{id: "ben", claims: map[string]any{"sub": "ben", policyClaim: "home-jwt,readonly-public", "groups": []string{"eng", "ops"}},
		grants: true, expected: "a comma-separated policy claim, client grants too"},
	{id: "cat", claims: map[string]any{"sub": "cat", policyClaim: []string{"team-dirs", "eng-only"}, "groups": []string{"ops", "eng"}},
		svcOf: true, expected: "an array policy claim, ${jwt:groups} with two groups, a service account of the session"},
	{id: "dan", claims: map[string]any{"sub": "dan", policyClaim: []string{"team-dirs", "corp-email"}, "groups": []string{"sales"}, "email": "dan@corp.example"},
		expected: "${jwt:groups} with one group, jwt:email"},
	{id: "eve", claims: map[string]any{"sub": "eve", policyClaim: "corp-email, shared-get", "groups": []string{"eng", "sales", "ops"}, "email": "eve@other.example"},
		expected: "jwt:email not matching, three groups but no ${jwt:groups} policy"},
	{id: "fay", claims: map[string]any{"sub": "fay", policyClaim: "no-such-policy", "groups": []string{"eng"}},
		expected: "a policy claim naming no policy: no credentials"},
	{id: "gus", claims: map[string]any{"sub": "gus", policyClaim: "no-such-policy,readonly-public"},
		expected: "one policy of two exists"},
	{id: "hal", claims: map[string]any{"sub": "hal", "groups": []string{"eng"}},
		expected: "no policy claim: no credentials"},
	{id: "ivy", claims: map[string]any{"sub": "ivy", policyClaim: "home-user", "groups": []string{"eng"}},
		expected: "${aws:username} for an OpenID session"},
	{id: "rob", role: true, claims: map[string]any{"sub": "rob", "groups": []string{"eng", "ops"}},
		expected: "role policy provider, two groups"},
	{id: "sue", role: true, claims: map[string]any{"sub": "sue", "groups": []string{"sales"}, policyClaim: "ops-admin"},
		expected: "role policy provider (its policy claim is not read)"},
}

// Buckets and objects, created by root on both servers. home/<hash of
// ivy> is where MinIO's ${aws:username} puts an OpenID session: the
// parent user MinIO derives from sub and iss (cmd/sts-handlers.go).
var buckets = []string{"data", "public", "scratch", "shared", "reports", "vault", "logs", "teams", "teama"}

func seedObjects(ivyHome string) map[string]string {
	keys := []string{
		"data/home/alice/notes.txt", "data/home/alice/photos/cat.jpg", "data/home/bob/notes.txt",
		"data/home/carol/list.txt", "data/home/frank/x.txt", "data/home/" + ivyHome + "/ivy.txt",
		"data/home/svc-alice-full/trap.txt",
		"data/oidc/ann/a.txt", "data/oidc/ann/keep/k.txt", "data/oidc/ben/b.txt", "data/oidc/cat/c.txt", "data/top.txt",
		"public/readme.txt", "public/docs/guide.txt",
		"scratch/tmp.txt",
		"shared/report.csv", "shared/secret/key.txt", "shared/corp/memo.txt", "shared/uploads/rob/up.txt",
		"shared/people/dan@corp.example/d.txt",
		"reports/q1.csv", "reports/2024/q2.csv",
		"vault/secret.bin",
		"logs/app.log", "logs/2024/jan.log",
		"teams/eng/plan.txt", "teams/ops/runbook.txt", "teams/sales/deal.txt",
		"teama/design.txt",
	}
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[k] = "seeded content of " + k + "\n"
	}
	return m
}

// missingKeys are objects nobody created: reads answer NoSuchKey or
// AccessDenied, writes create them (and are undone).
func missingKeys(ivyHome string) []string {
	return []string{
		"data/home/alice/new.txt", "data/home/bob/new.txt", "data/home/carol/new.txt", "data/home/frank/new.txt",
		"data/home/" + ivyHome + "/new.txt", "data/home/ivy/new.txt",
		"data/oidc/ann/new.txt", "data/oidc/ann/keep/new.txt", "data/oidc/ben/new.txt", "data/oidc/cat/new.txt", "data/new.txt",
		"public/new.txt", "scratch/new.txt", "shared/new.txt", "shared/corp/new.txt", "shared/uploads/rob/new.txt",
		"shared/uploads/sue/new.txt", "reports/new.csv", "vault/new.bin", "logs/new.log",
		"teams/eng/new.txt", "teams/ops/new.txt", "teams/sales/new.txt", "teama/new.txt",
	}
}

// listPrefixes are the ListObjects prefixes per bucket.
func listPrefixes(ivyHome string) map[string][]string {
	return map[string][]string{
		"data":    {"", "home/", "home/alice/", "home/bob/", "home/" + ivyHome + "/", "home/ivy/", "oidc/", "oidc/ann/", "oidc/ben/", "oidc/cat/"},
		"public":  {"", "docs/"},
		"scratch": {""},
		"shared":  {"", "secret/", "corp/", "uploads/"},
		"reports": {"", "2024/"},
		"vault":   {""},
		"logs":    {"", "2024/"},
		"teams":   {"", "eng/", "ops/", "sales/"},
		"teama":   {""},
	}
}

// sourceIPs are the X-Forwarded-For values requests carry ("" sends none:
// MinIO then sees 127.0.0.1).
var sourceIPs = []string{"", "10.1.2.3", "10.1.5.9", "10.1.99.7", "192.0.2.10"}

// openIDParent is the parent user MinIO gives a session of the OpenID
// provider: base64url(sha256("openid:" + sub + ":" + iss))
// (cmd/sts-handlers.go, AssumeRoleWithSSO). MinIO's ${aws:username} is it.
func openIDParent(sub, iss string) string {
	h := sha256.Sum256([]byte("openid:" + sub + ":" + iss))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// roleARN is the ARN MinIO derives for a role-policy provider from its
// client id (internal/config/identity/openid/openid.go, no site region):
// arn:minio:iam:::role/<base64url(sha1(client id))>.
func roleARN(clientID string) string {
	h := sha1.Sum([]byte(clientID))
	return "arn:minio:iam:::role/" + base64.RawURLEncoding.EncodeToString(h[:])
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
