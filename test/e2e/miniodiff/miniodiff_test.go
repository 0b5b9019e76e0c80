// Package miniodiff_test is a differential test of `opa-sts migrate
// minio`: the same IAM configuration (canned policies, users, groups,
// service accounts, two OpenID providers) is given to MinIO A, which
// decides with its own IAM, and, through the migration, to opa-sts as the
// policy plugin of MinIO B. Every request of a seeded matrix of identities
// × operations × objects × source addresses is sent to both, and the
// answers must be the same, but for the one deliberate difference
// (deliberate_test.go), which is asserted and reported on its own.
//
// MinIO and mc are AGPL: they are only ever run as processes.
//
//	go test -count=1 -v -run . ./test/e2e/miniodiff/        # CI: a fixed-seed sample of 4000
//	OPA_STS_DIFF_FULL=1 go test ...                          # the whole matrix
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
	fullMinimum = 2000
)

// diffReport is the JSON written to $OPA_STS_DIFF_REPORT.
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
	STS           []stsResult               `json:"sts"`
	Failures      []failure                 `json:"failures,omitempty"`
}

type stsResult struct {
	Identity string `json:"identity"`
	A        string `json:"a"`
	B        string `json:"b"`
}

type failure struct {
	Identity string  `json:"identity"`
	Request  request `json:"request"`
	A        outcome `json:"minio_native"`
	B        outcome `json:"minio_opa_sts"`
	Note     string  `json:"note,omitempty"`
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

	rep := diffReport{Seed: seed, Full: full, PerKind: map[string]map[string]int{}, PerIdentity: map[string]map[string]int{},
		AgreedAnswers: map[string]int{}, DeliberateBy: map[string]int{}}
	add := func(m map[string]map[string]int, k, result string) {
		if m[k] == nil {
			m[k] = map[string]int{}
		}
		m[k][result]++
	}
	count := func(kind, result string) { add(rep.PerKind, kind, result) }

	// STS first: both servers must issue or both refuse. A refused
	// identity has nothing to send.
	var callers []*identity
	for _, id := range ids {
		if !id.minted {
			callers = append(callers, id)
			continue
		}
		res := stsResult{Identity: id.String(), A: stsWord(id.refused[0]), B: stsWord(id.refused[1])}
		rep.STS = append(rep.STS, res)
		rep.Total++
		switch {
		case (id.refused[0] == "") == (id.refused[1] == ""):
			rep.Agreed++
			count("sts", "agreed")
			t.Logf("STS %s: A %s, B %s", id, res.A, res.B)
			if id.refused[0] == "" {
				callers = append(callers, id)
			}
		default:
			count("sts", "disagreed")
			rep.Failures = append(rep.Failures, failure{Identity: id.String(), Request: request{Op: "STS " + id.Kind},
				A: outcome{Code: res.A}, B: outcome{Code: res.B}})
			t.Errorf("DISAGREEMENT on STS for %s: MinIO-native %s, MinIO+opa-sts %s", id, res.A, res.B)
		}
	}

	cases := e.matrix(callers, seed, full, ciSize)
	if full && len(cases) < fullMinimum {
		t.Fatalf("the full matrix has %d requests, fewer than %d", len(cases), fullMinimum)
	}
	if !full && len(cases) < 500 {
		t.Fatalf("the CI sample has %d requests, fewer than 500", len(cases))
	}
	t.Logf("seed %d, %d identities (%d sending), %d requests (full=%v)", seed, len(ids), len(callers), len(cases), full)

	ctx := context.Background()
	endpoints := [2]string{e.a.URL, e.b.URL}
	start := time.Now()
	var deliberateSeen []string
	var failedCases []testCase // with rep.Failures[len(STS failures):]
	stsFailures := len(rep.Failures)
	for _, c := range cases {
		var got [2]outcome
		var wg sync.WaitGroup
		for i := range endpoints {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i] = do(ctx, endpoints[i], c.id.creds[i], c.req)
			}()
		}
		wg.Wait()
		if c.req.mutates() && (got[0].Code == allowed || got[1].Code == allowed) {
			e.restore(t, c.req.Bucket, c.req.Key)
		}
		rep.Total++
		kd := deliberate(c.id, c.req)
		switch {
		case kd.applies && got[0].Code == kd.wantA && got[1].Code == kd.wantB:
			add(rep.PerIdentity, c.id.Kind, "deliberate")
		case !kd.applies && got[0] == got[1]:
			add(rep.PerIdentity, c.id.Kind, "agreed")
			rep.AgreedAnswers[got[0].Code]++
		default:
			add(rep.PerIdentity, c.id.Kind, "disagreed")
		}
		switch {
		case kd.applies:
			if got[0].Code == kd.wantA && got[1].Code == kd.wantB {
				rep.Deliberate++
				rep.DeliberateBy[c.req.Op]++
				count(c.req.Op, "deliberate")
				deliberateSeen = append(deliberateSeen, fmt.Sprintf("%s: %s (group %s after %s): native %s, opa-sts %s",
					c.id.Name, c.req, kd.group, c.id.Groups[0], got[0], got[1]))
				continue
			}
			count(c.req.Op, "disagreed")
			f := failure{Identity: c.id.String(), Request: c.req, A: got[0], B: got[1],
				Note: fmt.Sprintf("the deliberate-difference predicate expects native %s and opa-sts %s here", kd.wantA, kd.wantB)}
			rep.Failures = append(rep.Failures, f)
			failedCases = append(failedCases, c)
		case got[0] == got[1]:
			rep.Agreed++
			count(c.req.Op, "agreed")
		default:
			count(c.req.Op, "disagreed")
			f := failure{Identity: c.id.String(), Request: c.req, A: got[0], B: got[1]}
			rep.Failures = append(rep.Failures, f)
			failedCases = append(failedCases, c)
		}
	}
	rep.Disagreements = len(rep.Failures)
	elapsed := time.Since(start).Round(time.Millisecond)
	// The decisions are read once the matrix is done: opa-sts writes its
	// decision log after answering.
	for i, c := range failedCases {
		f := rep.Failures[stsFailures+i]
		what := "DISAGREEMENT"
		if f.Note != "" {
			what = "UNEXPECTED for a deliberate case"
		}
		t.Errorf("%s: %s\n  %s", what, describe(f), e.decisionExcerpt(c.id.creds[1].AccessKeyID, c.req))
	}

	t.Run("no secret in opa-sts's log", func(t *testing.T) {
		logs := e.opa.Logs()
		if !strings.Contains(logs, `"msg":"Decision Log"`) {
			t.Fatal("opa-sts logged no decision: the check would prove nothing")
		}
		for i, s := range e.secrets {
			if strings.Contains(logs, s) {
				t.Errorf("secret #%d (%d characters) appears in opa-sts's log", i, len(s))
			}
		}
	})

	t.Run("both servers end as seeded", func(t *testing.T) {
		// Every write was undone on both: no request saw another's.
		for i, c := range []*minio.Client{e.rootA, e.rootB} {
			got := map[string]bool{}
			for _, b := range buckets {
				for o := range c.ListObjects(ctx, b, minio.ListObjectsOptions{Recursive: true}) {
					if o.Err != nil {
						t.Fatalf("list %s on server %c: %v", b, 'A'+i, o.Err)
					}
					got[b+"/"+o.Key] = true
				}
			}
			for k := range e.seed {
				if !got[k] {
					t.Errorf("server %c lost %s", 'A'+i, k)
				}
				delete(got, k)
			}
			for k := range got {
				t.Errorf("server %c kept %s", 'A'+i, k)
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
		rep.Agreed, rep.Total-rep.Deliberate, rep.Deliberate, deliberateKind, elapsed, seed, full)
	if rep.Disagreements > 0 {
		summary += fmt.Sprintf("; %d DISAGREEMENTS", rep.Disagreements)
	}
	t.Logf("per operation: %s", perKind(rep.PerKind))
	t.Logf("per identity kind: %s", perKind(rep.PerIdentity))
	t.Logf("answers both gave: %v", rep.AgreedAnswers)
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
	if rep.Deliberate == 0 {
		t.Errorf("no deliberate difference was exercised: the matrix misses the ${jwt:groups} cases")
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
// and the request's action (and object or bucket), shortened.
func (e *env) decisionExcerpt(accessKey string, r request) string {
	action := `"action":"` + iamAction[r.Op] + `"`
	var last string
	for _, line := range strings.Split(e.opa.Logs(), "\n") {
		if !strings.Contains(line, `"msg":"Decision Log"`) || !strings.Contains(line, `"account":"`+accessKey+`"`) || !strings.Contains(line, action) {
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
