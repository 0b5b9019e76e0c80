// Package miniodiff_test is a differential test of `opa-sts migrate
// minio`: the same IAM configuration (canned policies, users, groups,
// service accounts, two OpenID providers) is given to MinIO A, which
// decides with its own IAM, and, through the migration, to opa-sts as the
// policy plugin of MinIO B. Every request of a seeded matrix of identities
// × operations × objects × source addresses is sent to both, and the
// answers must be the same, but for the one deliberate difference
// (deliberate_test.go), which is asserted and reported on its own.
//
// A and B listen on plain HTTP, so aws:SecureTransport is false there; A'
// and B' are the same two over HTTPS (true), with the same IAM, OpenID
// settings, opa-sts and objects, and credentials minted on each. The
// matrix is sent to them too (in CI, a stratified part of the sample and
// every request a policy with aws:SecureTransport may decide), compared
// the same way, and the requests whose answers change with the transport
// must be those (fixture_test.go, secureTransportProbes).
//
// MinIO and mc are AGPL: they are only ever run as processes.
//
//	go test -count=1 -v -run . ./test/e2e/miniodiff/        # CI: a fixed-seed sample of 4000 (about 2000 over HTTPS)
//	OPA_STS_DIFF_FULL=1 go test ...                          # the whole matrix, over both transports
//	OPA_STS_DIFF_SEED=<n> OPA_STS_DIFF_REPORT=diff.json ...  # another seed; a JSON summary
package miniodiff_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

const (
	defaultSeed = 20260301
	ciSize      = 4000 // the CI sample (at least 500 requests)
	ciTLSMin    = 300  // the least of it also sent over HTTPS
	fullMinimum = 2000
)

// diffReport is the JSON written to $OPA_STS_DIFF_REPORT. Its totals and
// per-kind counts are over both transports; PerTransport has each one's.
type diffReport struct {
	Seed          uint64                    `json:"seed"`
	Full          bool                      `json:"full"`
	Total         int                       `json:"total"`
	Agreed        int                       `json:"agreed"`
	Deliberate    int                       `json:"deliberate"`
	Disagreements int                       `json:"disagreements"`
	PerKind       map[string]map[string]int `json:"per_kind"`          // operation → agreed/deliberate/disagreed
	PerIdentity   map[string]map[string]int `json:"per_identity_kind"` // identity kind → agreed/deliberate/disagreed
	AgreedAnswers map[string]int            `json:"agreed_answers"`    // the answer both gave: allowed, AccessDenied, NoSuchKey...
	DeliberateBy  map[string]int            `json:"deliberate_by_kind"`
	DeliberateAll []string                  `json:"deliberate_cases"`
	// PerTransport: "http" (A and B, aws:SecureTransport false) and
	// "https" (A' and B', true).
	PerTransport map[string]*transportReport `json:"per_transport"`
	// SecureTransportFlips are the requests sent over both transports
	// whose answers differ between them (each server pair agreeing).
	SecureTransportFlips []string `json:"secure_transport_flips"`
	// SecureTransportProbes: how many requests of each probe
	// (fixture_test.go) answered as expected over both transports.
	SecureTransportProbes map[string]int `json:"secure_transport_probes"`
	STS                   []stsResult    `json:"sts"`
	Failures              []failure      `json:"failures,omitempty"`
}

// transportReport is one transport's part of the totals.
type transportReport struct {
	Servers       string         `json:"servers"`
	Total         int            `json:"total"` // STS calls and requests
	Requests      int            `json:"requests"`
	Agreed        int            `json:"agreed"`
	Deliberate    int            `json:"deliberate"`
	Disagreements int            `json:"disagreements"`
	AgreedAnswers map[string]int `json:"agreed_answers"`
	Elapsed       string         `json:"elapsed"`
}

type stsResult struct {
	Transport string `json:"transport"`
	Identity  string `json:"identity"`
	A         string `json:"a"`
	B         string `json:"b"`
}

type failure struct {
	Transport string  `json:"transport"`
	Identity  string  `json:"identity"`
	Request   request `json:"request"`
	A         outcome `json:"minio_native"`
	B         outcome `json:"minio_opa_sts"`
	Note      string  `json:"note,omitempty"`
}

func TestMinIOMigrationDifferential(t *testing.T) {
	seed := uint64(defaultSeed)
	if s := os.Getenv("OPA_STS_DIFF_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("OPA_STS_DIFF_SEED=%q: %v", s, err)
		}
		seed = n
	}
	full := os.Getenv("OPA_STS_DIFF_FULL") == "1"

	e := setUp(t)
	ids := e.identities(t)
	servers := e.servers()

	rep := diffReport{Seed: seed, Full: full, PerKind: map[string]map[string]int{}, PerIdentity: map[string]map[string]int{},
		AgreedAnswers: map[string]int{}, DeliberateBy: map[string]int{}, PerTransport: map[string]*transportReport{},
		SecureTransportFlips: []string{}, SecureTransportProbes: map[string]int{}}
	for _, tr := range transports {
		rep.PerTransport[tr.name] = &transportReport{AgreedAnswers: map[string]int{},
			Servers: fmt.Sprintf("%s %s (MinIO's IAM), %s %s (opa-sts)", serverName(tr.a), servers[tr.a].URL, serverName(tr.a+1), servers[tr.a+1].URL)}
	}
	add := func(m map[string]map[string]int, k, result string) {
		if m[k] == nil {
			m[k] = map[string]int{}
		}
		m[k][result]++
	}
	count := func(kind, result string) { add(rep.PerKind, kind, result) }

	// STS first, on each transport: both servers must issue or both
	// refuse. A refused identity has nothing to send there.
	var callers [2][]*identity
	for ti, tr := range transports {
		pr := rep.PerTransport[tr.name]
		na, nb := serverName(tr.a), serverName(tr.a+1)
		for _, id := range ids {
			if !id.minted {
				callers[ti] = append(callers[ti], id)
				continue
			}
			refA, refB := id.refused[tr.a], id.refused[tr.a+1]
			res := stsResult{Transport: tr.name, Identity: id.String(), A: stsWord(refA), B: stsWord(refB)}
			rep.STS = append(rep.STS, res)
			rep.Total++
			pr.Total++
			switch {
			case (refA == "") == (refB == ""):
				rep.Agreed++
				pr.Agreed++
				count("sts", "agreed")
				t.Logf("STS %s: %s %s, %s %s", id, na, res.A, nb, res.B)
				if refA == "" {
					callers[ti] = append(callers[ti], id)
				}
			default:
				pr.Disagreements++
				count("sts", "disagreed")
				rep.Failures = append(rep.Failures, failure{Transport: tr.name, Identity: id.String(), Request: request{Op: "STS " + id.Kind},
					A: outcome{Code: res.A}, B: outcome{Code: res.B}})
				t.Errorf("DISAGREEMENT on STS (%s) for %s: MinIO-native %s %s, MinIO+opa-sts %s %s", tr.name, id, na, res.A, nb, res.B)
			}
		}
	}

	cases := e.matrix(callers[0], seed, full, ciSize)
	if full && len(cases) < fullMinimum {
		t.Fatalf("the full matrix has %d requests, fewer than %d", len(cases), fullMinimum)
	}
	if !full && len(cases) < 500 {
		t.Fatalf("the CI sample has %d requests, fewer than 500", len(cases))
	}
	// The requests of each transport, as indices into cases: over HTTPS
	// the whole matrix, or a stratified part of the CI sample, of the
	// identities A' and B' issued credentials to.
	var order [2][]int
	for i := range cases {
		order[0] = append(order[0], i)
	}
	tlsCallers := map[*identity]bool{}
	for _, id := range callers[1] {
		tlsCallers[id] = true
	}
	tlsPart := order[0]
	if !full {
		tlsPart = tlsSample(cases)
	}
	for _, i := range tlsPart {
		if tlsCallers[cases[i].id] {
			order[1] = append(order[1], i)
		}
	}
	if !full && len(order[1]) < ciTLSMin {
		t.Fatalf("the CI sample has %d requests over HTTPS, fewer than %d", len(order[1]), ciTLSMin)
	}
	t.Logf("seed %d, %d identities (%d sending over http, %d over https), %d requests over http and %d over https (full=%v)",
		seed, len(ids), len(callers[0]), len(callers[1]), len(order[0]), len(order[1]), full)

	ctx := context.Background()
	var elapsed time.Duration
	var deliberateSeen []string
	type failedCase struct {
		c  testCase
		tr transport
	}
	var failedCases []failedCase // with rep.Failures[len(STS failures):]
	stsFailures := len(rep.Failures)
	// answers[ti][i] is what the pair of transports[ti] answered to cases[i].
	var answers [2][][2]outcome
	for ti, tr := range transports {
		pr := rep.PerTransport[tr.name]
		answers[ti] = make([][2]outcome, len(cases))
		endpoints := [2]string{servers[tr.a].URL, servers[tr.a+1].URL}
		start := time.Now()
		for _, ci := range order[ti] {
			c := cases[ci]
			var got [2]outcome
			var wg sync.WaitGroup
			for i := range endpoints {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i] = do(ctx, e.client, endpoints[i], c.id.creds[tr.a+i], c.req)
				}()
			}
			wg.Wait()
			answers[ti][ci] = got
			if c.req.mutates() && (got[0].Code == allowed || got[1].Code == allowed) {
				e.restore(t, tr, c.req.Bucket, c.req.Key)
			}
			rep.Total++
			pr.Total++
			pr.Requests++
			kd := deliberate(c.id, c.req)
			switch {
			case kd.applies && got[0].Code == kd.wantA && got[1].Code == kd.wantB:
				add(rep.PerIdentity, c.id.Kind, "deliberate")
			case !kd.applies && got[0] == got[1]:
				add(rep.PerIdentity, c.id.Kind, "agreed")
				rep.AgreedAnswers[got[0].Code]++
				pr.AgreedAnswers[got[0].Code]++
			default:
				add(rep.PerIdentity, c.id.Kind, "disagreed")
			}
			switch {
			case kd.applies:
				if got[0].Code == kd.wantA && got[1].Code == kd.wantB {
					rep.Deliberate++
					pr.Deliberate++
					rep.DeliberateBy[c.req.Op]++
					count(c.req.Op, "deliberate")
					deliberateSeen = append(deliberateSeen, fmt.Sprintf("%s: %s (group %s after %s) over %s: native %s, opa-sts %s",
						c.id.Name, c.req, kd.group, c.id.Groups[0], tr.name, got[0], got[1]))
					continue
				}
				count(c.req.Op, "disagreed")
				pr.Disagreements++
				f := failure{Transport: tr.name, Identity: c.id.String(), Request: c.req, A: got[0], B: got[1],
					Note: fmt.Sprintf("the deliberate-difference predicate expects native %s and opa-sts %s here", kd.wantA, kd.wantB)}
				rep.Failures = append(rep.Failures, f)
				failedCases = append(failedCases, failedCase{c, tr})
			case got[0] == got[1]:
				rep.Agreed++
				pr.Agreed++
				count(c.req.Op, "agreed")
			default:
				count(c.req.Op, "disagreed")
				pr.Disagreements++
				f := failure{Transport: tr.name, Identity: c.id.String(), Request: c.req, A: got[0], B: got[1]}
				rep.Failures = append(rep.Failures, f)
				failedCases = append(failedCases, failedCase{c, tr})
			}
		}
		took := time.Since(start)
		elapsed += took
		pr.Elapsed = took.Round(time.Millisecond).String()
	}
	rep.Disagreements = len(rep.Failures)
	// The decisions are read once the matrix is done: opa-sts writes its
	// decision log after answering.
	for i, fc := range failedCases {
		f := rep.Failures[stsFailures+i]
		what := "DISAGREEMENT"
		if f.Note != "" {
			what = "UNEXPECTED for a deliberate case"
		}
		t.Errorf("%s over %s: %s\n  %s", what, fc.tr.name, describe(f), e.decisionExcerpt(fc.c.id.creds[fc.tr.a+1].AccessKeyID, fc.c.req, fc.tr))
	}

	t.Run("aws:SecureTransport decides", func(t *testing.T) {
		// The requests sent over both transports: those whose answers
		// differ are those a policy with aws:SecureTransport may decide,
		// and the probes answer as the fixture says.
		n := map[int]int{}
		for _, ci := range order[1] {
			c := cases[ci]
			h, s := answers[0][ci], answers[1][ci]
			for pi, p := range secureTransportProbes {
				if !p.matches(c.id, c.req) {
					continue
				}
				if h[0].Code == p.http && h[1].Code == p.http && s[0].Code == p.https && s[1].Code == p.https {
					n[pi]++
					continue
				}
				t.Errorf("%s by %s (%s): want %s over http and %s over https from both servers; "+
					"http: native %s, opa-sts %s; https: native %s, opa-sts %s", c.req, c.id, p.why, p.http, p.https, h[0], h[1], s[0], s[1])
			}
			if h[0].Code == s[0].Code && h[1].Code == s[1].Code {
				continue
			}
			flip := fmt.Sprintf("%s: %s: http native %s, opa-sts %s; https native %s, opa-sts %s", c.id, c.req, h[0].Code, h[1].Code, s[0].Code, s[1].Code)
			rep.SecureTransportFlips = append(rep.SecureTransportFlips, flip)
			if !c.id.secureTransport(c.req) {
				t.Errorf("the answer changed with the transport though no policy of the identity has aws:SecureTransport for the bucket: %s", flip)
			}
		}
		for pi, p := range secureTransportProbes {
			k := p.identity + ": " + p.req.String()
			rep.SecureTransportProbes[k] = n[pi]
			if n[pi] == 0 {
				t.Errorf("no request of %s was answered as expected over both transports (%s)", k, p.why)
			}
		}
		sort.Strings(rep.SecureTransportFlips)
		t.Logf("%d requests answered otherwise over https than over http; probes answered as expected: %v",
			len(rep.SecureTransportFlips), rep.SecureTransportProbes)
	})

	t.Run("no secret in opa-sts's log", func(t *testing.T) {
		logs := e.opa.Logs()
		if !strings.Contains(logs, `"msg":"Decision Log"`) {
			t.Fatal("opa-sts logged no decision: the check would prove nothing")
		}
		// B and B' both asked it, each with its aws:SecureTransport (what
		// decisionExcerpt tells them apart by).
		for _, v := range []string{"false", "true"} {
			if !strings.Contains(logs, `"SecureTransport":["`+v+`"]`) {
				t.Errorf("no decision of opa-sts's log has aws:SecureTransport %s", v)
			}
		}
		for i, s := range e.secrets {
			if strings.Contains(logs, s) {
				t.Errorf("secret #%d (%d characters) appears in opa-sts's log", i, len(s))
			}
		}
	})

	t.Run("all servers end as seeded", func(t *testing.T) {
		// Every write was undone on every server: no request saw another's.
		for i, c := range e.roots {
			got := map[string]bool{}
			for _, b := range buckets {
				for o := range c.ListObjects(ctx, b, minio.ListObjectsOptions{Recursive: true}) {
					if o.Err != nil {
						t.Fatalf("list %s on server %s: %v", b, serverName(i), o.Err)
					}
					got[b+"/"+o.Key] = true
				}
			}
			for k := range e.seed {
				if !got[k] {
					t.Errorf("server %s lost %s", serverName(i), k)
				}
				delete(got, k)
			}
			for k := range got {
				t.Errorf("server %s kept %s", serverName(i), k)
			}
		}
	})

	t.Run("--config migrates as --env", func(t *testing.T) {
		// The same server's OpenID settings, as `mc admin config get`
		// prints them, must give the same data as the environment file.
		read := func(dir string) map[string]any {
			raw, err := os.ReadFile(filepath.Join(dir, "data.json"))
			if err != nil {
				t.Fatalf("no data.json in %s: %v", dir, err)
			}
			var doc map[string]any
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			return doc
		}
		byEnv, byConfig := read(e.migrated), read(e.migratedByConfig)
		if !reflect.DeepEqual(byEnv, byConfig) {
			count := func(doc map[string]any, k string) int {
				o, _ := doc["opa_sts"].(map[string]any)
				l, _ := o[k].([]any)
				return len(l)
			}
			t.Errorf("--config gives other data than --env: %d providers and %d bindings against %d and %d.\n"+
				"mc admin config get A identity_openid printed:\n%s", count(byConfig, "providers"), count(byConfig, "bindings"),
				count(byEnv, "providers"), count(byEnv, "bindings"), e.configOutput)
		}
	})

	sort.Strings(deliberateSeen)
	for _, d := range deliberateSeen {
		t.Logf("deliberate: %s", d)
	}
	rep.DeliberateAll = deliberateSeen
	summary := fmt.Sprintf("agreement: %d/%d (plus %d deliberate differences: %s) in %s, seed %d, full=%v",
		rep.Agreed, rep.Total-rep.Deliberate, rep.Deliberate, deliberateKind, elapsed.Round(time.Millisecond), seed, full)
	var per []string
	for _, tr := range transports {
		pr := rep.PerTransport[tr.name]
		per = append(per, fmt.Sprintf("%s %d/%d (plus %d deliberate) in %s", tr.name, pr.Agreed, pr.Total-pr.Deliberate, pr.Deliberate, pr.Elapsed))
	}
	summary += "; per transport: " + strings.Join(per, ", ")
	if rep.Disagreements > 0 {
		summary += fmt.Sprintf("; %d DISAGREEMENTS", rep.Disagreements)
	}
	t.Logf("per operation: %s", perKind(rep.PerKind))
	t.Logf("per identity kind: %s", perKind(rep.PerIdentity))
	t.Logf("answers both gave: %v", rep.AgreedAnswers)
	for _, tr := range transports {
		t.Logf("answers both gave over %s: %v", tr.name, rep.PerTransport[tr.name].AgreedAnswers)
	}
	t.Log(summary)
	if path := os.Getenv("OPA_STS_DIFF_REPORT"); path != "" {
		raw, _ := json.MarshalIndent(struct {
			Summary string `json:"summary"`
			diffReport
		}{summary, rep}, "", "  ")
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Errorf("write %s: %v", path, err)
		}
	}
	for _, tr := range transports {
		if rep.PerTransport[tr.name].Deliberate == 0 {
			t.Errorf("no deliberate difference was exercised over %s: the matrix misses the ${jwt:groups} cases", tr.name)
		}
	}
}

func stsWord(refused string) string {
	if refused == "" {
		return "issued"
	}
	return "refused (" + refused + ")"
}

func describe(f failure) string {
	s := fmt.Sprintf("%s by %s: MinIO-native %s, MinIO+opa-sts %s", f.Request, f.Identity, f.A, f.B)
	if f.Note != "" {
		s += " — " + f.Note
	}
	return s
}

func perKind(m map[string]map[string]int) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		var rs []string
		for _, r := range sortedKeys(m[k]) {
			rs = append(rs, fmt.Sprintf("%s %d", r, m[k][r]))
		}
		parts = append(parts, k+": "+strings.Join(rs, ", "))
	}
	return strings.Join(parts, "; ")
}

// decisionExcerpt is the last decision opa-sts logged for the access key
// and the request's action (and object or bucket) from the opa-sts server
// of tr (B and B' share opa-sts: told apart by aws:SecureTransport),
// shortened.
func (e *env) decisionExcerpt(accessKey string, r request, tr transport) string {
	action := `"action":"` + iamAction[r.Op] + `"`
	secure := `"SecureTransport":["` + strconv.FormatBool(tr.a == transports[1].a) + `"]`
	var last string
	for _, line := range strings.Split(e.opa.Logs(), "\n") {
		if !strings.Contains(line, `"msg":"Decision Log"`) || !strings.Contains(line, `"account":"`+accessKey+`"`) || !strings.Contains(line, action) ||
			!strings.Contains(line, secure) {
			continue
		}
		if r.Key != "" && !strings.Contains(line, `"object":"`+r.Key+`"`) {
			continue
		}
		if r.Bucket != "" && !strings.Contains(line, `"bucket":"`+r.Bucket+`"`) {
			continue
		}
		last = line
	}
	if last == "" {
		return "no decision for it in opa-sts's log (yet)"
	}
	if len(last) > 2500 {
		last = last[:2500] + "..."
	}
	return "opa-sts decision: " + last
}
