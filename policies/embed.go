// Package policies embeds the default opa-sts policies, which `opa-sts dev`
// serves out of the box.
package policies

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Default holds the default decision policy and the decision log mask
// (tests excluded).
//
//go:embed sts/decision.rego sts/mapping.rego sts/explain.rego sts/minio_identity.rego sts/tags.rego sts/assume_role.rego system/log/mask.rego system/authz/authz.rego httpapi/authz/authz.rego s3/authz.rego
var Default embed.FS

// WriteDefault writes the default policies into dir, keeping their
// relative paths.
func WriteDefault(dir string) error {
	return fs.WalkDir(Default, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(Default, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return fmt.Errorf("policies: %w", err)
		}
		return os.WriteFile(dst, data, 0o600)
	})
}
