package sessions

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opa-sts/opa-sts/internal/sessionstore"
)

// snapshot is the local copy of a replicated store's revocations: written
// (atomically, mode 0600) whenever the view learns of a new one, read at
// start-up when the store is unreachable. It holds no secret: revocation
// entries name sessions, subjects, issuers and clients.
type snapshot struct {
	path string
	log  Logger

	mu      sync.Mutex
	entries map[string]sessionstore.Revocation
	closed  bool
}

type snapshotFile struct {
	Version     int                       `json:"version"`
	SavedAt     time.Time                 `json:"saved_at"`
	Revocations []sessionstore.Revocation `json:"revocations"`
}

func newSnapshot(path string, log Logger) *snapshot {
	return &snapshot{path: path, log: log, entries: map[string]sessionstore.Revocation{}}
}

// read returns the saved revocations and when they were saved.
func (s *snapshot) read() ([]sessionstore.Revocation, time.Time, error) {
	b, err := os.ReadFile(s.path)
	if err != nil {
		return nil, time.Time{}, err
	}
	var f snapshotFile
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, time.Time{}, fmt.Errorf("%s: %w", s.path, err)
	}
	if f.Version != 1 {
		return nil, time.Time{}, fmt.Errorf("%s: unknown snapshot version %d", s.path, f.Version)
	}
	for _, r := range f.Revocations {
		if err := r.Validate(); err != nil || r.ID == "" {
			return nil, time.Time{}, fmt.Errorf("%s: invalid entry %q", s.path, r.ID)
		}
	}
	return f.Revocations, f.SavedAt, nil
}

// replace makes the snapshot the complete list rs (a fresh load).
func (s *snapshot) replace(rs []sessionstore.Revocation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]sessionstore.Revocation, len(rs))
	for _, r := range rs {
		next[r.ID] = r
	}
	if sameEntries(s.entries, next) && s.fileExists() {
		return
	}
	s.entries = next
	s.writeLocked()
}

// add adds one entry.
func (s *snapshot) add(r sessionstore.Revocation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[r.ID]; ok {
		return
	}
	s.entries[r.ID] = r
	s.writeLocked()
}

func (s *snapshot) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

func (s *snapshot) fileExists() bool {
	_, err := os.Stat(s.path)
	return err == nil
}

func sameEntries(a, b map[string]sessionstore.Revocation) bool {
	if len(a) != len(b) {
		return false
	}
	for id := range a {
		if _, ok := b[id]; !ok {
			return false
		}
	}
	return true
}

// writeLocked writes the file through a temporary file and a rename, so a
// crash leaves the old snapshot or the new one, never half of one. A
// failure is logged, not fatal: the view in memory is what enforces.
func (s *snapshot) writeLocked() {
	if s.closed {
		return
	}
	if err := s.write(); err != nil {
		s.log.Error("sessions: the local snapshot of the revocations was not saved: %v", err)
	}
}

func (s *snapshot) write() error {
	rs := make([]sessionstore.Revocation, 0, len(s.entries))
	for _, r := range s.entries {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b sessionstore.Revocation) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	b, err := json.Marshal(snapshotFile{Version: 1, SavedAt: time.Now().UTC(), Revocations: rs})
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".sts-revocations-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return errors.Join(err, os.Remove(tmp.Name()))
	}
	return nil
}
