package policies

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every policy file of the library is embedded: a file left out of the
// go:embed list compiles in `opa test` and breaks `opa-sts dev` and every
// server that loads the default policies.
func TestEveryLibraryPolicyIsEmbedded(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".rego") || strings.HasSuffix(path, "_test.rego") {
			return err
		}
		if strings.HasPrefix(path, "tests"+string(os.PathSeparator)) || strings.HasPrefix(path, "testdata"+string(os.PathSeparator)) {
			return nil
		}
		if _, err := fs.Stat(Default, filepath.ToSlash(path)); err != nil {
			t.Errorf("%s is not embedded: add it to the go:embed list of embed.go", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
