// Package secretfile reads a configured secret from a file. Secrets are
// never written inline in opa-sts's configuration: OPA serves its whole
// configuration on GET /v1/config and redacts only its own members, so
// an inline secret (or one substituted from an environment variable)
// would be readable there.
package secretfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxBytes bounds a secret file.
const MaxBytes = 64 << 10

// Read returns the content of path without its trailing line break. An
// empty or oversized file is an error.
func Read(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(buf) > MaxBytes {
		return "", fmt.Errorf("%s: larger than %d bytes", path, MaxBytes)
	}
	s := strings.TrimRight(string(buf), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s: %w", path, errors.New("empty"))
	}
	return s, nil
}

// Refused is the error of a secret given inline where name_file is the
// form accepted.
func Refused(name string) error {
	return fmt.Errorf("%s is refused inline (OPA serves its configuration on GET /v1/config, environment substitutions included): put it in a file and name it in %s_file", name, name)
}
