package credentials_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// webIdentityProfile is an AWS config profile for the SDKs' own
// web-identity flow: the token file, a role and a session name. The STS
// endpoint is given by a services section (endpoint) or left to
// AWS_ENDPOINT_URL_STS.
func webIdentityProfile(tokenFile, services string) []string {
	lines := []string{
		"web_identity_token_file = " + tokenFile,
		"role_arn = arn:aws:iam::000000000000:role/web-identity",
		"role_session_name = e2e-web-identity",
	}
	if services != "" {
		lines = append(lines, "services = "+services)
	}
	return lines
}

// stsService is a services section naming the STS endpoint (and only it:
// endpoint_url directly under a profile would send S3 there as well).
func stsService(name, sts string) string {
	return "[services " + name + "]\nsts =\n  endpoint_url = " + sts + "\n"
}

// TestWebIdentityProfileWithSDKs: the SDKs' own AssumeRoleWithWebIdentity
// flow from a profile (web_identity_token_file, role_arn,
// role_session_name), with the STS endpoint from a services section of the
// config file or from AWS_ENDPOINT_URL_STS, or from the environment alone
// (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN): the AWS CLI v1, boto3,
// aws-sdk-go-v2 and the AWS SDK for JavaScript get credentials from
// opa-sts and do S3 work on versitygw in their grant, and are refused
// outside it; a token of an identity without a role, or a tampered one,
// gets nothing.
func TestWebIdentityProfileWithSDKs(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	tampered := e.token(t, workload)
	tamperedFile := writeFile(t, filepath.Join(e.dir, "tampered-token"), tampered[:len(tampered)-6]+"AAAAAA")
	cfg := e.awsConfig(t, map[string][]string{
		"services": webIdentityProfile(e.tokenFile(t, workload), "opa-sts"),
		"env":      webIdentityProfile(e.tokenFile(t, workload), ""),
		"stranger": webIdentityProfile(e.tokenFile(t, stranger), "opa-sts"),
		"tampered": webIdentityProfile(tamperedFile, "opa-sts"),
	}, stsService("opa-sts", e.sts))
	stsEnv := []string{"AWS_ENDPOINT_URL_STS=" + e.sts}
	podToken := e.tokenFile(t, workload)
	clients := []struct {
		name string
		run  func(testing.TB, job) result
	}{
		{"aws-cli-v1", e.cli},
		{"boto3", e.boto3},
		{"aws-sdk-go-v2", e.goSDK},
		{"aws-sdk-js", e.js},
	}
	subtests := map[string]func(*testing.T){}
	for _, c := range clients {
		subtests[c.name] = func(t *testing.T) {
			key := func(s string) string { return home(workload) + "web-identity-" + c.name + "-" + s + ".txt" }
			for p, why := range map[string]string{"stranger": "no role is bound to this identity", "tampered": "token signature does not verify"} {
				r := c.run(t, job{config: cfg, profile: p, key: key(p), outside: "elsewhere/x.txt", refusal: true})
				r.refused(t, c.name+" with the "+p+" token", why)
			}
			r := c.run(t, job{config: cfg, profile: "services", key: key("services"), outside: "elsewhere/" + c.name + ".txt"})
			r.granted(t, c.name+" (services section)", "")
			r = c.run(t, job{config: cfg, profile: "env", env: stsEnv, key: key("env"), outside: "elsewhere/" + c.name + ".txt"})
			r.granted(t, c.name+" (AWS_ENDPOINT_URL_STS)", "")
			// No config file at all: the environment of a Kubernetes pod
			// with a projected token.
			r = c.run(t, job{env: append([]string{"AWS_WEB_IDENTITY_TOKEN_FILE=" + podToken,
				"AWS_ROLE_ARN=arn:aws:iam::000000000000:role/pod", "AWS_ROLE_SESSION_NAME=pod"}, stsEnv...),
				key: key("pod"), outside: "elsewhere/" + c.name + ".txt"})
			r.granted(t, c.name+" (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN)", "")
			if k, _ := r.AccessKey.Value.(string); c.name != "aws-cli-v1" && !strings.HasPrefix(k, "ASIA") {
				t.Errorf("%s: access key %v", c.name, r.AccessKey.Value)
			}
			t.Logf("%s %v: the web-identity profile works", c.name, r.Versions)
		}
	}
	concurrently(t, subtests)
}
