package credentials_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// TestContainerEndpointRefusals: `opa-sts credentials serve` answers only
// requests with its token (401 without, 403 with another, JSON bodies
// without secrets, each refusal logged and counted), refuses to listen
// beyond loopback or with a weak token, and answers 503 rather than
// credentials it cannot get.
func TestContainerEndpointRefusals(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	const token = "container-auth-token-0123456789abcdef"
	s := e.startServe(t, token, e.viaIdP(workload)...)
	for _, c := range []struct {
		name   string
		header []string
		status int
		code   string
	}{
		{"no Authorization header", nil, 401, "Unauthorized"},
		{"an empty one", []string{"Authorization", ""}, 401, "Unauthorized"},
		{"a wrong token", []string{"Authorization", "not-the-container-token-0123"}, 403, "Forbidden"},
		{"the token as a bearer token", []string{"Authorization", "Bearer " + token}, 403, "Forbidden"},
		{"a prefix of the token", []string{"Authorization", token[:12]}, 403, "Forbidden"},
	} {
		a := e.get(t, s.url, c.header...)
		if a.status != c.status || a.body["code"] != c.code || a.body["message"] == "" || a.body["AccessKeyId"] != "" {
			t.Errorf("%s: %d %v", c.name, a.status, a.body)
		}
	}
	// The log is copied from the process's stderr as it comes.
	waitFor(t, func() bool { return strings.Count(s.logs.String(), "refused a credentials request") == 5 })
	if logs := s.logs.String(); !strings.Contains(logs, "refusals_wrong_token=3") || !strings.Contains(logs, "refusals_missing_token=2") ||
		strings.Contains(logs, "not-the-container-token") {
		t.Errorf("refusals are not counted, or the log shows a token:\n%s", logs)
	}

	// The SDKs with a wrong token, or none, get nothing.
	clients := []struct {
		name string
		run  func(testing.TB, job) result
	}{{"aws-sdk-go-v2", e.goSDK}, {"boto3", e.boto3}, {"aws-cli-v1", e.cli}, {"aws-sdk-js", e.js}}
	wrongFile := writeFile(t, filepath.Join(e.dir, "wrong-container-token"), "not-the-container-token-0123")
	subtests := map[string]func(*testing.T){}
	for _, c := range clients {
		subtests[c.name] = func(t *testing.T) {
			variants := map[string][]string{
				"a wrong token":      {"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + s.url, "AWS_CONTAINER_AUTHORIZATION_TOKEN=not-the-container-token-0123"},
				"a wrong token file": {"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + s.url, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" + wrongFile},
				"no token":           {"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + s.url},
			}
			// The SDKs retry a refused credentials request (boto3 and
			// the CLI for 3 s, the JS SDK for 12 s): fewer variants
			// for the slower ones keep the test short.
			switch c.name {
			case "aws-sdk-js":
				delete(variants, "no token")
				delete(variants, "a wrong token file")
			case "boto3", "aws-cli-v1":
				delete(variants, "a wrong token file")
			}
			for name, env := range variants {
				r := c.run(t, job{env: env, key: home(workload) + "refused.txt", outside: "elsewhere/x.txt", refusal: true})
				r.refused(t, c.name+" with "+name, "")
			}
		}
	}
	concurrently(t, subtests)
	// Each SDK's attempts were refused, and logged as such.
	waitFor(t, func() bool { return strings.Count(s.logs.String(), "refused a credentials request") >= 5+7 })
	if strings.Contains(s.logs.String(), "not-the-container-token") {
		t.Fatal("the log shows the wrong token")
	}

	// An identity the STS refuses: 503 naming the STS's answer, never
	// stale or empty credentials.
	sStranger := e.startServe(t, token, e.viaIdP(stranger)...)
	a := e.get(t, sStranger.url, "Authorization", token)
	if a.status != 503 || a.body["code"] != "ServiceUnavailable" || !strings.Contains(a.body["message"], "AccessDenied") {
		t.Errorf("an identity without a role: %d %v", a.status, a.body)
	}
	r := e.goSDK(t, job{env: []string{"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + sStranger.url, "AWS_CONTAINER_AUTHORIZATION_TOKEN=" + token},
		key: home(stranger) + "x.txt", outside: "elsewhere/x.txt", refusal: true})
	r.refused(t, "aws-sdk-go-v2 at an endpoint without credentials", "ServiceUnavailable: no valid credentials: STS "+e.sts+" AssumeRoleWithWebIdentity: AccessDenied")

	// Start-up refusals: beyond loopback, a weak token, no token file,
	// flags that do not make sense.
	weak := writeFile(t, filepath.Join(e.dir, "weak-token"), "short\n")
	good := writeFile(t, filepath.Join(e.dir, "good-token"), token+"\n")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"all interfaces", []string{"--addr", "0.0.0.0:0", "--auth-token-file", good}, "loopback addresses only"},
		{"no host", []string{"--addr", ":0", "--auth-token-file", good}, "loopback addresses only"},
		{"a link-local address", []string{"--addr", "169.254.170.2:80", "--auth-token-file", good}, "loopback addresses only"},
		{"a weak token", []string{"--addr", "127.0.0.1:0", "--auth-token-file", weak}, "at least 16 bytes"},
		{"no token file", []string{"--addr", "127.0.0.1:0"}, "--auth-token-file is required"},
		{"a missing token file", []string{"--addr", "127.0.0.1:0", "--auth-token-file", filepath.Join(e.dir, "absent")}, "no such file"},
		{"no STS", []string{"--addr", "127.0.0.1:0", "--auth-token-file", good, "--sts", "", "--token-url", e.tokenURL}, "--sts is required"},
	} {
		args := append(append([]string{"credentials", "serve"}, e.viaIdP(workload)...), c.args...)
		res := opasts.Run(t, e.dir, args...)
		e.output("opa-sts credentials serve's start-up errors", res.Stderr)
		if res.Exit == 0 || !strings.Contains(res.Stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q", c.name, res.Exit, res.Stderr)
		}
	}
}

// TestContainerEndpointWithSDKs: aws-sdk-go-v2, boto3, the AWS CLI v1 and
// the AWS SDK for JavaScript, given AWS_CONTAINER_CREDENTIALS_FULL_URI and
// the token (AWS_CONTAINER_AUTHORIZATION_TOKEN, or _TOKEN_FILE), get
// their credentials from `opa-sts credentials serve` and do S3 work on
// versitygw in their grant, and are refused outside it.
func TestContainerEndpointWithSDKs(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	const token = "container-auth-token-0123456789abcdef"
	viaIdP := e.startServe(t, token, e.viaIdP(workload)...)
	viaFile := e.startServe(t, token, e.viaFile(e.tokenFile(t, workload))...)
	// Without a line break: the SDKs send the file's content verbatim, and
	// refuse a token with a line break in it.
	tokenFile := writeFile(t, filepath.Join(e.dir, "client-token"), token)
	clients := []struct {
		name string
		run  func(testing.TB, job) result
	}{{"aws-sdk-go-v2", e.goSDK}, {"boto3", e.boto3}, {"aws-cli-v1", e.cli}, {"aws-sdk-js", e.js}}
	subtests := map[string]func(*testing.T){}
	for _, c := range clients {
		subtests[c.name] = func(t *testing.T) {
			for name, env := range map[string][]string{
				"token":      {"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + viaIdP.url, "AWS_CONTAINER_AUTHORIZATION_TOKEN=" + token},
				"token-file": {"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + viaFile.url, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" + tokenFile},
			} {
				r := c.run(t, job{env: env, key: home(workload) + "container-" + c.name + "-" + name + ".txt", outside: "elsewhere/" + c.name + ".txt"})
				r.granted(t, c.name+" with AWS_CONTAINER_AUTHORIZATION_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_")), "")
			}
		}
	}
	concurrently(t, subtests)
	// One fetch served them all.
	for _, s := range []*serve{viaIdP, viaFile} {
		if n := strings.Count(s.logs.String(), "obtained credentials"); n != 1 {
			t.Errorf("%s: %d fetches:\n%s", s.url, n, s.logs.String())
		}
	}
}
