//go:build unix

package diskcache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/internal/awscreds"
)

const (
	keyA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	keyB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func creds(id string, life time.Duration) awscreds.Credentials {
	now := time.Now().Truncate(time.Second)
	return awscreds.Credentials{AccessKeyID: id, SecretAccessKey: "secret-" + id, SessionToken: "token-" + id,
		Obtained: now, Expiration: now.Add(life)}
}

func mode(t testing.TB, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	must(t, err)
	return fi.Mode().Perm()
}

func TestStoreAndLoadArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "credentials")
	c, err := Open(dir)
	must(t, err)
	if m := mode(t, dir); m != 0o700 {
		t.Fatalf("directory mode %04o", m)
	}
	want := creds("AK1", time.Hour)
	must(t, c.Store(keyA, want))
	if m := mode(t, c.Path(keyA)); m != 0o600 {
		t.Fatalf("file mode %04o", m)
	}
	got, ok, why := c.Load(keyA)
	if !ok || why != "" || got.AccessKeyID != "AK1" || got.SecretAccessKey != "secret-AK1" || got.SessionToken != "token-AK1" ||
		!got.Expiration.Equal(want.Expiration) || !got.Obtained.Equal(want.Obtained) {
		t.Fatalf("Load: %v %v %q", got, ok, why)
	}
	if _, ok, why := c.Load(keyB); ok || why != "" {
		t.Fatalf("a missing entry: %v %q", ok, why)
	}
	if _, ok, _ := c.Load("../../etc/passwd"); ok {
		t.Fatal("a key that is a path was accepted")
	}
	if err := c.Store("../x", want); err == nil {
		t.Fatal("a key that is a path was stored")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Fatalf("a temporary file is left: %s", e.Name())
		}
	}
}

// What cannot be trusted is not read, and the next fetch replaces it.
func TestUntrustedEntriesAreIgnoredAndReplaced(t *testing.T) {
	c, err := Open(t.TempDir())
	must(t, err)
	must(t, c.Store(keyB, creds("FOREIGN", time.Hour)))
	foreign, err := os.ReadFile(c.Path(keyB))
	must(t, err)
	outside := filepath.Join(t.TempDir(), "target.json")
	must(t, os.WriteFile(outside, foreign, 0o600))

	for _, bad := range []struct {
		name  string
		plant func(path string)
		why   string
	}{
		{"corrupt", func(p string) { must(t, os.WriteFile(p, []byte(`{"format": "opa-sts-cred`), 0o600)) }, "corrupt"},
		{"not JSON", func(p string) { must(t, os.WriteFile(p, []byte("\x00\x01garbage"), 0o600)) }, "corrupt"},
		{"trailing data", func(p string) { must(t, os.WriteFile(p, append(append([]byte{}, foreign...), "{}"...), 0o600)) }, "corrupt"},
		{"unknown members", func(p string) {
			must(t, os.WriteFile(p, []byte(strings.Replace(string(foreign), `{"format"`, `{"x":1,"format"`, 1)), 0o600))
		}, "corrupt"},
		{"written for other settings", func(p string) { must(t, os.WriteFile(p, foreign, 0o600)) }, "other settings"},
		{"another format", func(p string) {
			must(t, os.WriteFile(p, []byte(strings.Replace(string(foreign), Format, "other/9", 1)), 0o600))
		}, "another format"},
		{"incomplete", func(p string) {
			must(t, os.WriteFile(p, []byte(`{"format":"`+Format+`","key":"`+keyA+`","access_key_id":"X"}`), 0o600))
		}, "incomplete"},
		{"readable by others", func(p string) {
			must(t, os.WriteFile(p, []byte(strings.Replace(string(foreign), keyB, keyA, 1)), 0o600))
			must(t, os.Chmod(p, 0o644))
		}, "accessible to others"},
		{"a symbolic link", func(p string) { must(t, os.Symlink(outside, p)) }, "symbolic link"},
		{"a directory", func(p string) { must(t, os.Mkdir(p, 0o700)) }, ""},
	} {
		path := c.Path(keyA)
		_ = os.RemoveAll(path)
		bad.plant(path)
		if _, ok, why := c.Load(keyA); ok || !strings.Contains(why, bad.why) {
			t.Errorf("%s: ok=%v why=%q, want %q", bad.name, ok, why, bad.why)
		}
		if bad.name == "a directory" {
			_ = os.RemoveAll(path)
		}
		var warnings []string
		fetched := 0
		got, err := c.Get(context.Background(), keyA, awscreds.Timing{}, func(context.Context) (awscreds.Credentials, error) {
			fetched++
			return creds("NEW", time.Hour), nil
		}, func(w string) { warnings = append(warnings, w) })
		if err != nil || got.AccessKeyID != "NEW" || fetched != 1 {
			t.Errorf("%s: Get %v %v (fetched %d)", bad.name, got, err, fetched)
		}
		if bad.why != "" && (len(warnings) == 0 || !strings.Contains(strings.Join(warnings, "\n"), "ignored")) {
			t.Errorf("%s: no warning: %v", bad.name, warnings)
		}
		if again, ok, _ := c.Load(keyA); !ok || again.AccessKeyID != "NEW" {
			t.Errorf("%s: not replaced", bad.name)
		}
		if m := mode(t, path); m != 0o600 {
			t.Errorf("%s: replaced with mode %04o", bad.name, m)
		}
	}
	// The link was replaced, its target left alone.
	if b, err := os.ReadFile(outside); err != nil || string(b) != string(foreign) {
		t.Fatalf("the symbolic link's target was written: %v", err)
	}
}

func TestOpenTightensOrRefusesTheDirectory(t *testing.T) {
	base := t.TempDir()
	loose := filepath.Join(base, "loose")
	must(t, os.Mkdir(loose, 0o755))
	_, err := Open(loose)
	must(t, err)
	if m := mode(t, loose); m != 0o700 {
		t.Fatalf("mode %04o after Open", m)
	}
	real := filepath.Join(base, "real")
	must(t, os.Mkdir(real, 0o700))
	link := filepath.Join(base, "link")
	must(t, os.Symlink(real, link))
	if _, err := Open(link); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("a linked directory: %v", err)
	}
	file := filepath.Join(base, "file")
	must(t, os.WriteFile(file, nil, 0o600))
	if _, err := Open(file); err == nil {
		t.Fatal("a file as the directory")
	}
	if _, err := Open(""); err == nil {
		t.Fatal("no directory")
	}
	if os.Getuid() == 0 {
		// Owned by someone else: root can make such a directory.
		other := filepath.Join(base, "other")
		must(t, os.Mkdir(other, 0o700))
		must(t, os.Chown(other, 65534, 65534))
		if _, err := Open(other); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Fatalf("a directory of another user: %v", err)
		}
		c, err := Open(real)
		must(t, err)
		must(t, c.Store(keyA, creds("AK", time.Hour)))
		must(t, os.Chown(c.Path(keyA), 65534, 65534))
		if _, ok, why := c.Load(keyA); ok || !strings.Contains(why, "owned by uid 65534") {
			t.Fatalf("a file of another user: %v %q", ok, why)
		}
	}
}

func TestGetRenewsAndFallsBack(t *testing.T) {
	c, err := Open(t.TempDir())
	must(t, err)
	ctx := context.Background()
	var warnings []string
	warn := func(w string) { warnings = append(warnings, w) }
	fetches := 0
	next := creds("AK1", time.Hour)
	var fail error
	fetch := func(context.Context) (awscreds.Credentials, error) {
		fetches++
		if fail != nil {
			return awscreds.Credentials{}, fail
		}
		return next, nil
	}
	got, err := c.Get(ctx, keyA, awscreds.Timing{}, fetch, warn)
	if err != nil || got.AccessKeyID != "AK1" || fetches != 1 {
		t.Fatalf("first Get: %v %v %d", got, err, fetches)
	}
	got, err = c.Get(ctx, keyA, awscreds.Timing{}, fetch, warn)
	if err != nil || got.AccessKeyID != "AK1" || fetches != 1 {
		t.Fatalf("a fresh entry was not used: %v %v %d", got, err, fetches)
	}
	// Due for renewal (within the margin): renewed.
	must(t, c.Store(keyA, awscreds.Credentials{AccessKeyID: "OLD", SecretAccessKey: "s", SessionToken: "t",
		Obtained: time.Now().Add(-50 * time.Minute), Expiration: time.Now().Add(10 * time.Minute)}))
	next = creds("AK2", time.Hour)
	if got, err = c.Get(ctx, keyA, awscreds.Timing{}, fetch, warn); err != nil || got.AccessKeyID != "AK2" || fetches != 2 {
		t.Fatalf("an entry due for renewal: %v %v %d", got, err, fetches)
	}
	// Renewal fails: still-usable credentials are handed out, with a warning.
	must(t, c.Store(keyA, awscreds.Credentials{AccessKeyID: "OLD", SecretAccessKey: "s", SessionToken: "t",
		Obtained: time.Now().Add(-50 * time.Minute), Expiration: time.Now().Add(10 * time.Minute)}))
	fail = errors.New("STS down")
	warnings = nil
	if got, err = c.Get(ctx, keyA, awscreds.Timing{}, fetch, warn); err != nil || got.AccessKeyID != "OLD" {
		t.Fatalf("fallback: %v %v", got, err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "STS down") || strings.Contains(warnings[0], "secret") {
		t.Fatalf("warnings %q", warnings)
	}
	// ... but not credentials about to expire.
	must(t, c.Store(keyA, awscreds.Credentials{AccessKeyID: "OLD", SecretAccessKey: "s", SessionToken: "t",
		Obtained: time.Now().Add(-59 * time.Minute), Expiration: time.Now().Add(30 * time.Second)}))
	if _, err = c.Get(ctx, keyA, awscreds.Timing{}, fetch, warn); err == nil || err.Error() != "STS down" {
		t.Fatalf("credentials about to expire were handed out: %v", err)
	}
	must(t, c.Store(keyA, creds("EXPIRED", -time.Hour+time.Second)))
	if _, err = c.Get(ctx, keyA, awscreds.Timing{}, fetch, warn); err == nil {
		t.Fatal("expired credentials were handed out")
	}
}

// Callers at the same time (processes, here goroutines with their own
// lock files) wait for one fetch.
func TestConcurrentCallersFetchOnce(t *testing.T) {
	dir := t.TempDir()
	var fetches atomic.Int32
	fetch := func(context.Context) (awscreds.Credentials, error) {
		fetches.Add(1)
		time.Sleep(100 * time.Millisecond)
		return creds("ONCE", time.Hour), nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Open(dir)
			if err == nil {
				var got awscreds.Credentials
				got, err = c.Get(context.Background(), keyA, awscreds.Timing{}, fetch, func(string) {})
				if err == nil && got.AccessKeyID != "ONCE" {
					err = errors.New("got " + got.AccessKeyID)
				}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches", n)
	}
}
