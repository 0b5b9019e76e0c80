// Package diskcache keeps the credential_process helper's credentials on
// disk between its invocations, so that an SDK calling it before every
// request does not make an STS request each time.
//
// One file per settings key, <dir>/<key>.json, mode 0600 in a directory of
// mode 0700, both owned by the user. What the cache refuses to trust, it
// ignores: a file that is not a regular file (a symbolic link, say), that
// is owned by someone else, readable or writable by others, too large, not
// valid JSON of this format or written for other settings is not read, and
// is replaced by the next fetch (a rename, which replaces a link, never
// follows it). A directory owned by someone else, or a link, is not used
// at all: the helper then works without a cache. Writes go to a temporary
// file renamed into place, so readers see the old entry or the new one.
package diskcache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/opa-sts/opa-sts/internal/awscreds"
)

// Format names the entry format; a file with another one is ignored.
const Format = "opa-sts-credentials-cache/1"

// maxEntryBytes bounds a cache file (a session token is a few KiB).
const maxEntryBytes = 256 << 10

var keyPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Cache is a cache directory.
type Cache struct {
	dir string
}

// Open prepares dir (created with mode 0700 when missing; its mode is
// tightened to 0700 when it is the user's own). It fails when dir cannot
// be trusted: the caller should then work without a cache.
func Open(dir string) (*Cache, error) {
	if dir == "" {
		return nil, errors.New("no cache directory")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("cache directory %s is not a directory (a symbolic link is not accepted)", dir)
	}
	if err := ownedByMe(fi); err != nil {
		return nil, fmt.Errorf("cache directory %s: %w", dir, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("cache directory %s is accessible to others and cannot be restricted: %w", dir, err)
		}
	}
	return &Cache{dir: dir}, nil
}

// Dir is the cache directory.
func (c *Cache) Dir() string { return c.dir }

// Path is the file of key.
func (c *Cache) Path(key string) string { return filepath.Join(c.dir, key+".json") }

// entry is a cache file.
type entry struct {
	Format          string    `json:"format"`
	Key             string    `json:"key"`
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token"`
	Expiration      time.Time `json:"expiration"`
	Obtained        time.Time `json:"obtained"`
}

// Load returns the entry of key. ok is false when there is none that can
// be trusted; why says what was wrong with the file when there was one
// (empty when there was none).
func (c *Cache) Load(key string) (creds awscreds.Credentials, ok bool, why string) {
	if !keyPattern.MatchString(key) {
		return creds, false, "invalid key"
	}
	f, err := openNoFollow(c.Path(key))
	if errors.Is(err, os.ErrNotExist) {
		return creds, false, ""
	}
	if err != nil {
		return creds, false, err.Error()
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return creds, false, err.Error()
	}
	switch {
	case !fi.Mode().IsRegular():
		return creds, false, "not a regular file"
	case fi.Mode().Perm()&0o077 != 0:
		return creds, false, fmt.Sprintf("mode %04o: accessible to others", fi.Mode().Perm())
	case fi.Size() > maxEntryBytes:
		return creds, false, "too large"
	}
	if err := ownedByMe(fi); err != nil {
		return creds, false, err.Error()
	}
	b, err := io.ReadAll(io.LimitReader(f, maxEntryBytes+1))
	if err != nil {
		return creds, false, err.Error()
	}
	if len(b) > maxEntryBytes {
		return creds, false, "too large"
	}
	var e entry
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || dec.More() {
		return creds, false, "not a cache entry (corrupt?)"
	}
	switch {
	case e.Format != Format:
		return creds, false, "another format"
	case e.Key != key:
		return creds, false, "written for other settings"
	case e.AccessKeyID == "" || e.SecretAccessKey == "" || e.SessionToken == "" || e.Expiration.IsZero() || e.Obtained.IsZero():
		return creds, false, "incomplete"
	case !e.Expiration.After(e.Obtained):
		return creds, false, "expiration before issue"
	}
	return awscreds.Credentials{
		AccessKeyID: e.AccessKeyID, SecretAccessKey: e.SecretAccessKey, SessionToken: e.SessionToken,
		Expiration: e.Expiration, Obtained: e.Obtained,
	}, true, ""
}

// Store writes the entry of key: a new 0600 file renamed into place.
func (c *Cache) Store(key string, creds awscreds.Credentials) error {
	if !keyPattern.MatchString(key) {
		return errors.New("invalid cache key")
	}
	b, err := json.Marshal(entry{
		Format: Format, Key: key,
		AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken,
		Expiration: creds.Expiration.UTC(), Obtained: creds.Obtained.UTC(),
	})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.dir, ".tmp-"+key[:16]+"-*") // mode 0600
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.Path(key)); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	done = true
	return nil
}

// Get returns credentials for key: the cached ones while they are fresh,
// otherwise new ones from fetch (stored for the next call). Concurrent
// callers on the same machine wait for one fetch (a lock file next to the
// entry), then read its result. When fetch fails and the cached
// credentials are still usable (awscreds.Usable), they are returned and
// warn says so; otherwise the fetch's error is returned. warn receives
// problems that do not stop Get (a cache file ignored, a store that
// failed); it never receives a secret.
func (c *Cache) Get(ctx context.Context, key string, t awscreds.Timing, fetch func(context.Context) (awscreds.Credentials, error), warn func(string)) (awscreds.Credentials, error) {
	now := time.Now()
	cached, ok, why := c.Load(key)
	if ok && t.Fresh(cached, now) {
		return cached, nil
	}
	unlock, err := c.lock(ctx, key)
	if err != nil {
		warn("cache lock: " + err.Error() + "; fetching without it")
	} else {
		defer unlock()
		// Another process may have fetched while this one waited.
		cached, ok, why = c.Load(key)
		if ok && t.Fresh(cached, time.Now()) {
			return cached, nil
		}
	}
	if why != "" {
		warn(fmt.Sprintf("cache file %s ignored (%s): it will be replaced", c.Path(key), why))
	}
	fresh, err := fetch(ctx)
	if err != nil {
		if ok && awscreds.Usable(cached, time.Now()) {
			warn(fmt.Sprintf("renewing the credentials failed (%v); handing out the cached ones, valid until %s",
				err, cached.Expiration.UTC().Format(time.RFC3339)))
			return cached, nil
		}
		return awscreds.Credentials{}, err
	}
	if err := c.Store(key, fresh); err != nil {
		warn(err.Error())
	}
	return fresh, nil
}
