package miniodiff_test

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
)

// The operations of the matrix.
const (
	opGetObject         = "GetObject"
	opPutObject         = "PutObject"
	opDeleteObject      = "DeleteObject"
	opGetObjectTagging  = "GetObjectTagging"
	opListObjects       = "ListObjects"
	opGetBucketLocation = "GetBucketLocation"
	opGetBucketPolicy   = "GetBucketPolicy"
	opListBuckets       = "ListBuckets"
	opAdminInfo         = "AdminServerInfo"
	opAdminListUsers    = "AdminListUsers"
)

// iamAction is the action MinIO asks about first for an operation (for
// finding the decision in opa-sts's log).
var iamAction = map[string]string{
	opGetObject: "s3:GetObject", opPutObject: "s3:PutObject", opDeleteObject: "s3:DeleteObject",
	opGetObjectTagging: "s3:GetObjectTagging", opListObjects: "s3:ListBucket",
	opGetBucketLocation: "s3:GetBucketLocation", opGetBucketPolicy: "s3:GetBucketPolicy",
	opListBuckets: "s3:ListAllMyBuckets", opAdminInfo: "admin:ServerInfo", opAdminListUsers: "admin:ListUsers",
}

// request is one S3 (or admin) request of the matrix.
type request struct {
	Op        string `json:"op"`
	Bucket    string `json:"bucket,omitempty"`
	Key       string `json:"key,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
	Recursive bool   `json:"recursive,omitempty"` // ListObjects without a delimiter
	SourceIP  string `json:"source_ip,omitempty"` // X-Forwarded-For
}

func (r request) String() string {
	var b strings.Builder
	b.WriteString(r.Op)
	switch {
	case r.Op == opListObjects:
		delim := " delimiter=/"
		if r.Recursive {
			delim = ""
		}
		fmt.Fprintf(&b, " %s prefix=%q%s", r.Bucket, r.Prefix, delim)
	case r.Key != "":
		fmt.Fprintf(&b, " %s/%s", r.Bucket, r.Key)
	case r.Bucket != "":
		fmt.Fprintf(&b, " %s", r.Bucket)
	}
	if r.SourceIP != "" {
		fmt.Fprintf(&b, " X-Forwarded-For=%s", r.SourceIP)
	}
	return b.String()
}

func (r request) mutates() bool { return r.Op == opPutObject || r.Op == opDeleteObject }

// testCase is a request made by an identity.
type testCase struct {
	id  *identity
	req request
}

// targets are every request of the matrix but for its source address.
// They are listed with a placeholder for ivy's home (MinIO's hash of the
// issuer, whose port changes from run to run), so that the seeded order,
// and the sample, are the same in every run.
func (e *env) targets() []request {
	const ivy = "{ivy-parent}"
	var out []request
	for _, bk := range sortedKeys(seedObjects(ivy)) {
		b, k, _ := strings.Cut(bk, "/")
		for _, op := range []string{opGetObject, opPutObject, opDeleteObject, opGetObjectTagging} {
			out = append(out, request{Op: op, Bucket: b, Key: k})
		}
	}
	for _, bk := range missingKeys(ivy) {
		b, k, _ := strings.Cut(bk, "/")
		for _, op := range []string{opGetObject, opPutObject, opDeleteObject} {
			out = append(out, request{Op: op, Bucket: b, Key: k})
		}
	}
	prefixes := listPrefixes(ivy)
	for _, b := range buckets {
		for _, p := range prefixes[b] {
			out = append(out, request{Op: opListObjects, Bucket: b, Prefix: p}, request{Op: opListObjects, Bucket: b, Prefix: p, Recursive: true})
		}
		out = append(out, request{Op: opGetBucketLocation, Bucket: b}, request{Op: opGetBucketPolicy, Bucket: b})
	}
	out = append(out, request{Op: opListBuckets}, request{Op: opAdminInfo}, request{Op: opAdminListUsers})
	for i := range out {
		out[i].Key = strings.ReplaceAll(out[i].Key, ivy, e.ivyHome)
		out[i].Prefix = strings.ReplaceAll(out[i].Prefix, ivy, e.ivyHome)
	}
	return out
}

// ipSensitive: the requests whose answer depends on aws:SourceIp (the
// reports bucket's office-ip policy) are made from every source address;
// the others from one chosen at random.
func ipSensitive(r request) bool { return r.Bucket == "reports" }

// matrix is every identity's every request, in a seeded random order.
// full is the whole matrix; otherwise a seeded sample of about ciSize.
func (e *env) matrix(ids []*identity, seed uint64, full bool, ciSize int) []testCase {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var all []testCase
	for _, id := range ids {
		for _, r := range e.targets() {
			if ipSensitive(r) {
				for _, ip := range sourceIPs {
					r.SourceIP = ip
					all = append(all, testCase{id, r})
				}
				continue
			}
			r.SourceIP = sourceIPs[rng.IntN(len(sourceIPs))]
			all = append(all, testCase{id, r})
		}
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	if full {
		return all
	}
	// The sample: every request in an identity's own namespaces (and every
	// deliberate case, every request aws:SecureTransport may decide); then
	// one request of each stratum (identity, operation, bucket) where a
	// policy of the identity names the bucket, one of each other stratum,
	// and more of the first kind, until ciSize.
	strata := map[string][]testCase{}
	var relevant, other []string
	var picked []testCase
	for _, c := range all {
		if deliberate(c.id, c.req).applies || c.id.atHome(c.req) || c.id.secureTransport(c.req) {
			picked = append(picked, c)
			continue
		}
		k := fmt.Sprintf("%s %s %s %s", c.id.Kind, c.id.Name, c.req.Op, c.req.Bucket)
		if _, ok := strata[k]; !ok {
			if c.id.relevant(c.req) {
				relevant = append(relevant, k)
			} else {
				other = append(other, k)
			}
		}
		strata[k] = append(strata[k], c)
	}
	for _, keys := range [][]string{relevant, other} {
		sort.Strings(keys)
		rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	}
	take := func(keys []string, round int) bool {
		added := false
		for _, k := range keys {
			if round < len(strata[k]) && len(picked) < ciSize {
				picked = append(picked, strata[k][round])
				added = true
			}
		}
		return added
	}
	take(relevant, 0)
	take(other, 0)
	for round := 1; len(picked) < ciSize && take(relevant, round); round++ {
	}
	rng.Shuffle(len(picked), func(i, j int) { picked[i], picked[j] = picked[j], picked[i] })
	return picked
}

// tlsSample is the part of the CI sample also sent over HTTPS (to A' and
// B'): every request aws:SecureTransport may decide and every deliberate
// case, then the first request (in the sample's seeded order) of each
// stratum of identity, operation and bucket. It returns indices into
// cases.
func tlsSample(cases []testCase) []int {
	var out []int
	seen := map[string]bool{}
	for i, c := range cases {
		k := fmt.Sprintf("%s %s %s %s", c.id.Kind, c.id.Name, c.req.Op, c.req.Bucket)
		if deliberate(c.id, c.req).applies || c.id.secureTransport(c.req) || !seen[k] {
			out = append(out, i)
		}
		seen[k] = true
	}
	return out
}
