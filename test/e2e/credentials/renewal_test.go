package credentials_test

import (
	"strings"
	"testing"
	"time"
)

// renewalLoop is how long the SDK clients keep working: longer than the
// short credentials live, so that each must renew at least once.
const renewalLoop = 75 * time.Second

// TestRenewalBeforeExpiry: with credentials that live 60 s (the short
// client: data.opa_sts.durations.min 60 and a role capped at 60 s), the
// helper and the endpoint hand out new credentials before the old ones
// expire, and the SDKs (each through one of the three ways) keep working
// across several renewals without a single failed request.
func TestRenewalBeforeExpiry(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	cacheDir := e.dir + "/renewal-cache"
	const token = "renewal-auth-token-0123456789abcdef"
	endpoint := e.startServe(t, token, e.viaIdP(short)...)
	shortToken := e.tokenFile(t, short)
	cfg := e.awsConfig(t, map[string][]string{
		"process":      {credentialProcess(t, append(e.viaIdP(short), "--cache-dir", cacheDir)...)},
		"web-identity": webIdentityProfile(shortToken, "opa-sts"),
	}, stsService("opa-sts", e.sts))

	container := []string{"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + endpoint.url, "AWS_CONTAINER_AUTHORIZATION_TOKEN=" + token}
	subtests := map[string]func(*testing.T){
		// The helper: the cached credentials until shortly before they
		// expire, then new ones, while the old ones are still valid.
		"credential_process": func(t *testing.T) {
			args := append(e.viaIdP(short), "--cache-dir", cacheDir+"-poll")
			expectRenewal(t, func() (string, time.Time) {
				c := e.mustHelper(t, nil, args...)
				return c.AccessKeyID, c.expiration(t)
			})
		},
		// The endpoint: the same, renewed in the background.
		"endpoint": func(t *testing.T) {
			expectRenewal(t, func() (string, time.Time) {
				a := e.get(t, endpoint.url, "Authorization", token)
				if a.status != 200 {
					t.Fatalf("endpoint: %d %v", a.status, a.body)
				}
				exp, err := time.Parse(time.RFC3339, a.body["Expiration"])
				must(t, err)
				return a.body["AccessKeyId"], exp
			})
		},
	}
	for _, c := range []struct {
		name string
		run  func(testing.TB, job) result
		j    job
	}{
		{"aws-sdk-go-v2 web identity", e.goSDK, job{config: cfg, profile: "web-identity"}},
		{"boto3 web identity", e.boto3, job{config: cfg, profile: "web-identity"}},
		{"aws-sdk-js web identity", e.js, job{config: cfg, profile: "web-identity"}},
		{"aws-sdk-go-v2 container endpoint", e.goSDK, job{env: container}},
		{"boto3 credential_process", e.boto3, job{config: cfg, profile: "process"}},
		{"aws-sdk-js credential_process", e.js, job{config: cfg, profile: "process"}},
	} {
		subtests[c.name] = func(t *testing.T) {
			j := c.j
			j.key, j.outside, j.loop = home(short)+"renewal-"+strings.ReplaceAll(c.name, " ", "-")+".txt", "elsewhere/renewal.txt", renewalLoop
			r := c.run(t, j)
			r.granted(t, c.name, "")
			if r.Loop == nil || r.Loop.Rounds == 0 || len(r.Loop.Failures) > 0 {
				t.Fatalf("%s: requests failed across renewals: %s", c.name, r.raw)
			}
			if len(r.Loop.AccessKeys) < 2 {
				t.Fatalf("%s: the credentials were never renewed: %s", c.name, r.raw)
			}
			t.Logf("%s: %d requests with %d successive credentials", c.name, r.Loop.Rounds, len(r.Loop.AccessKeys))
		}
	}
	concurrently(t, subtests)
}

// expectRenewal polls get until it hands out other credentials, and fails
// unless it handed out the same ones in between (they were cached) and
// the new ones came while the first were still valid and last longer.
func expectRenewal(t *testing.T, get func() (string, time.Time)) {
	t.Helper()
	first, firstExp := get()
	same := 0
	for {
		asked := time.Now()
		ak, exp := get()
		if ak == first {
			if !exp.Equal(firstExp) {
				t.Fatalf("the same access key %s with another expiration", ak)
			}
			same++
		} else {
			if !asked.Before(firstExp) {
				t.Fatalf("new credentials only after the old ones expired at %s", firstExp.Format(time.RFC3339))
			}
			if !exp.After(firstExp) {
				t.Fatalf("the new credentials (%s) do not outlast the old ones (%s)", exp.Format(time.RFC3339), firstExp.Format(time.RFC3339))
			}
			if same == 0 {
				t.Fatal("the first credentials were never handed out twice: nothing is cached")
			}
			t.Logf("renewed while the old credentials were still valid, after handing them out %d more times", same)
			return
		}
		if time.Now().After(firstExp.Add(30 * time.Second)) {
			t.Fatalf("no renewal: still %s after its expiration", ak)
		}
		time.Sleep(2 * time.Second)
	}
}
