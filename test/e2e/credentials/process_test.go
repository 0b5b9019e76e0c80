package credentials_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCredentialProcessRefusals: every way `opa-sts credentials` can fail
// exits non-zero with nothing on stdout and a message on stderr naming
// what failed (the flag, the identity provider and its OAuth2 error, the
// STS and its error code), never a secret.
func TestCredentialProcessRefusals(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	wrongSecret := writeFile(t, filepath.Join(e.dir, "secrets", "wrong"), "not-the-secret-of-anyone\n")
	tampered := e.token(t, workload)
	tampered = tampered[:len(tampered)-6] + "AAAAAA"
	tamperedFile := writeFile(t, filepath.Join(e.dir, "tampered"), tampered)
	cache := []string{"--cache-dir", filepath.Join(e.dir, "refusals-cache")}
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"no flags", nil, []string{"--sts is required"}},
		{"no token source", []string{"--sts", e.sts}, []string{"identity token source is required"}},
		{"two token sources", append(e.viaIdP(workload), "--token-file", tamperedFile), []string{"exclude each other"}},
		{"no client secret file", []string{"--sts", e.sts, "--token-url", e.tokenURL, "--client-id", workload}, []string{"--client-secret-file is required"}},
		{"a secret on the command line", append(e.viaIdP(workload), "--client-secret", clientSecret(workload)), []string{"unknown flag: --client-secret"}},
		{"plain http to the network", []string{"--sts", "http://sts.example.com", "--token-file", tamperedFile}, []string{"loopback addresses only"}},
		{"a negative margin", append(e.viaIdP(workload), "--refresh-margin", "-1m"), []string{"--refresh-margin"}},
		{"an unknown action", append(e.viaIdP(workload), "--action", "AssumeRole"), []string{"--action"}},
		{"a role with client grants", append(e.viaIdP(workload), "--action", "AssumeRoleWithClientGrants", "--role-arn", "arn:aws:iam::000000000000:role/x"), []string{"--role-arn"}},
		{"a duration below the STS minimum", append(e.viaIdP(workload), "--duration-seconds", "30"), []string{"--duration-seconds"}},
		{"an argument", append(e.viaIdP(workload), "extra"), []string{"unknown command"}},
		{"the wrong client secret", []string{"--sts", e.sts, "--token-url", e.tokenURL, "--client-id", workload, "--client-secret-file", wrongSecret},
			[]string{"identity provider " + e.tokenURL, "invalid_client", "HTTP 401"}},
		{"an unknown client", []string{"--sts", e.sts, "--token-url", e.tokenURL, "--client-id", "nobody", "--client-secret-file", e.secretFiles[workload]},
			[]string{"identity provider", "invalid_client"}},
		{"a scope the client may not have", append(e.viaIdP(workload), "--scope", "admin"), []string{"identity provider", "invalid_scope"}},
		{"a missing secret file", []string{"--sts", e.sts, "--token-url", e.tokenURL, "--client-id", workload, "--client-secret-file", filepath.Join(e.dir, "absent")},
			[]string{"client secret file", "no such file"}},
		{"an unreachable identity provider", []string{"--sts", e.sts, "--token-url", "http://127.0.0.1:1/token", "--client-id", workload, "--client-secret-file", e.secretFiles[workload]},
			[]string{"identity provider http://127.0.0.1:1/token", "unreachable"}},
		{"an identity without a role", e.viaIdP(stranger), []string{"STS " + e.sts, "AssumeRoleWithWebIdentity", "AccessDenied", "HTTP 403"}},
		{"an identity without a role (client grants)", append(e.viaIdP(stranger), "--action", "AssumeRoleWithClientGrants"), []string{"AssumeRoleWithClientGrants", "AccessDenied"}},
		{"a tampered token", e.viaFile(tamperedFile), []string{"STS " + e.sts, "InvalidIdentityToken", "HTTP 400"}},
		{"a missing token file", e.viaFile(filepath.Join(e.dir, "absent-token")), []string{"token file", "no such file"}},
		{"an empty token file", e.viaFile(writeFile(t, filepath.Join(e.dir, "empty-token"), "\n")), []string{"token file", "empty"}},
		{"an unreachable STS", []string{"--sts", "http://127.0.0.1:1", "--token-file", tamperedFile, "--timeout", "5s"}, []string{"STS http://127.0.0.1:1", "unreachable"}},
		{"a role the identity does not have", append(e.viaIdP(workload), "--role-arn", "arn:aws:iam::000000000000:role/short-lived"), []string{"AccessDenied"}},
	} {
		r := e.helper(t, nil, append(c.args, cache...)...)
		if r.exit == 0 {
			t.Errorf("%s: succeeded", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", c.name, w, r.stderr)
			}
		}
		if strings.Contains(r.stderr, "not-the-secret-of-anyone") {
			t.Errorf("%s: stderr shows the secret", c.name)
		}
	}
	// Nothing was cached by the failures.
	if entries, _ := os.ReadDir(cache[1]); len(entries) > 0 {
		for _, en := range entries {
			if strings.HasSuffix(en.Name(), ".json") {
				t.Fatalf("a failure left a cache entry: %s", en.Name())
			}
		}
	}
}

// TestCredentialProcessCache: the helper hands out the cached credentials
// until they need renewal; the cache is private (0600 in 0700, under the
// user's cache directory by default); a corrupt or foreign cache file is
// ignored and replaced.
func TestCredentialProcessCache(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	dir := filepath.Join(e.dir, "cache")
	args := append(e.viaIdP(workload), "--cache-dir", dir)
	first := e.mustHelper(t, nil, args...)
	if again := e.mustHelper(t, nil, args...); again.AccessKeyID != first.AccessKeyID || again.Expiration != first.Expiration {
		t.Fatalf("the cached credentials were not used: %s then %s", first.AccessKeyID, again.AccessKeyID)
	}
	entries, err := filepath.Glob(filepath.Join(dir, "*.json"))
	must(t, err)
	if len(entries) != 1 {
		t.Fatalf("cache entries: %v", entries)
	}
	entry := entries[0]
	expectMode(t, dir, 0o700)
	expectMode(t, entry, 0o600)

	// Other settings, another entry: never the first one's credentials.
	other := e.mustHelper(t, nil, append(args, "--role-session-name", "other-session")...)
	if other.AccessKeyID == first.AccessKeyID {
		t.Fatal("other settings got the cached credentials of the first")
	}
	otherEntries, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(otherEntries) != 2 {
		t.Fatalf("cache entries: %v", otherEntries)
	}
	var foreign string
	for _, p := range otherEntries {
		if p != entry {
			foreign = p
		}
	}

	for _, bad := range []struct {
		name  string
		plant func()
	}{
		{"corrupt", func() { must(t, os.WriteFile(entry, []byte(`{"format":"opa-sts-credentials-cache/1","key":`), 0o600)) }},
		{"foreign", func() {
			b, err := os.ReadFile(foreign)
			must(t, err)
			must(t, os.WriteFile(entry, b, 0o600))
		}},
		// A valid entry of these settings, but open to others.
		{"readable by others", func() { must(t, os.Chmod(entry, 0o644)) }},
	} {
		before := e.mustHelper(t, nil, args...).AccessKeyID
		bad.plant()
		r := e.helper(t, nil, args...)
		if r.exit != 0 || !strings.Contains(r.stderr, "ignored") {
			t.Fatalf("%s cache file: exit %d\n%s", bad.name, r.exit, r.stderr)
		}
		if r.creds.AccessKeyID == before || r.creds.AccessKeyID == other.AccessKeyID {
			t.Fatalf("%s cache file: credentials %s were handed out", bad.name, r.creds.AccessKeyID)
		}
		expectMode(t, entry, 0o600)
		// Replaced: the next call uses the new entry.
		if again := e.mustHelper(t, nil, args...); again.AccessKeyID != r.creds.AccessKeyID {
			t.Fatalf("%s cache file: not replaced (%s, then %s)", bad.name, r.creds.AccessKeyID, again.AccessKeyID)
		}
	}

	// A cache directory open to others is closed first.
	loose := filepath.Join(e.dir, "loose-cache")
	must(t, os.MkdirAll(loose, 0o755))
	must(t, os.Chmod(loose, 0o777))
	e.mustHelper(t, nil, append(e.viaIdP(workload), "--cache-dir", loose)...)
	expectMode(t, loose, 0o700)

	// A linked cache directory is not used, and nothing is written there.
	target := filepath.Join(e.dir, "link-target")
	must(t, os.MkdirAll(target, 0o700))
	link := filepath.Join(e.dir, "link-cache")
	must(t, os.Symlink(target, link))
	r := e.helper(t, nil, append(e.viaIdP(workload), "--cache-dir", link)...)
	if r.exit != 0 || !strings.Contains(r.stderr, "working without a cache") {
		t.Fatalf("a linked cache directory: exit %d\n%s", r.exit, r.stderr)
	}
	if entries, _ := os.ReadDir(target); len(entries) != 0 {
		t.Fatalf("written through the link: %v", entries)
	}

	// The default: the user's cache directory ($XDG_CACHE_HOME, else ~/.cache).
	home := filepath.Join(e.dir, "home")
	e.mustHelper(t, nil, e.viaIdP(workload)...)
	expectEntry(t, filepath.Join(home, ".cache", "opa-sts", "credentials"))
	xdg := filepath.Join(e.dir, "xdg")
	e.mustHelper(t, []string{"XDG_CACHE_HOME=" + xdg}, e.viaIdP(workload)...)
	expectEntry(t, filepath.Join(xdg, "opa-sts", "credentials"))

	// --no-cache: new credentials at every call, nothing written.
	noCache := append(e.viaIdP(workload), "--no-cache", "--cache-dir", filepath.Join(e.dir, "unused"))
	a, b := e.mustHelper(t, nil, noCache...), e.mustHelper(t, nil, noCache...)
	if a.AccessKeyID == b.AccessKeyID {
		t.Fatal("--no-cache handed out the same credentials twice")
	}
	if _, err := os.Stat(filepath.Join(e.dir, "unused")); !os.IsNotExist(err) {
		t.Fatalf("--no-cache created the cache directory: %v", err)
	}
}

func expectMode(t testing.TB, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	must(t, err)
	if fi.Mode().Perm() != want {
		t.Fatalf("%s: mode %04o, want %04o", path, fi.Mode().Perm(), want)
	}
}

func expectEntry(t testing.TB, dir string) {
	t.Helper()
	expectMode(t, dir, 0o700)
	entries, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(entries) != 1 {
		t.Fatalf("%s: entries %v", dir, entries)
	}
	expectMode(t, entries[0], 0o600)
}

// TestCredentialProcessWithSDKs: the AWS CLI v1, boto3, aws-sdk-go-v2 and
// the AWS SDK for JavaScript, each with a profile whose credential_process
// is the helper (the token from the identity provider or from a file), do
// S3 work on versitygw in their grant and are refused outside it; with a
// profile for an identity without a role they get no credentials.
func TestCredentialProcessWithSDKs(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	cacheDir := filepath.Join(e.dir, "sdk-cache")
	cfg := e.awsConfig(t, map[string][]string{
		"via-idp":  {credentialProcess(t, append(e.viaIdP(workload), "--cache-dir", cacheDir)...)},
		"via-file": {credentialProcess(t, append(e.viaFile(e.tokenFile(t, workload)), "--cache-dir", cacheDir)...)},
		"stranger": {credentialProcess(t, append(e.viaIdP(stranger), "--cache-dir", cacheDir)...)},
	})
	type runner func(testing.TB, job) result
	clients := []struct {
		name    string
		run     runner
		profile string
	}{
		{"aws-cli-v1", e.cli, "via-idp"},
		{"boto3", e.boto3, "via-file"},
		{"aws-sdk-go-v2", e.goSDK, "via-idp"},
		{"aws-sdk-js", e.js, "via-file"},
	}
	subtests := map[string]func(*testing.T){}
	for _, c := range clients {
		subtests[c.name] = func(t *testing.T) {
			// Refused first: no credentials for an identity without a role.
			refused := c.run(t, job{config: cfg, profile: "stranger", key: home(stranger) + "x.txt", outside: "elsewhere/x.txt", refusal: true})
			// Why, as each SDK tells it: the helper's message in the
			// error (boto3, the CLI), on stderr (aws-sdk-go-v2 passes
			// the helper's stderr through), or nowhere (the JS default
			// chain says only "Could not load credentials from any
			// providers").
			why := "STS " + e.sts + " AssumeRoleWithWebIdentity: AccessDenied: no role is bound to this identity"
			if c.name == "aws-sdk-js" {
				why = "Could not load credentials"
			}
			refused.refused(t, c.name, why)
			r := c.run(t, job{config: cfg, profile: c.profile, key: home(workload) + "process-" + c.name + ".txt", outside: "elsewhere/" + c.name + ".txt"})
			r.granted(t, c.name, "")
			t.Logf("%s %v: credential_process works", c.name, r.Versions)
		}
	}
	concurrently(t, subtests)
}
