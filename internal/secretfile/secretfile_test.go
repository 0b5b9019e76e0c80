package secretfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for content, want := range map[string]string{"s3cret\n": "s3cret", "s3cret\r\n": "s3cret", "s3cret": "s3cret", "a b \n": "a b "} {
		if got, err := Read(write("ok", content)); err != nil || got != want {
			t.Errorf("%q: %q %v", content, got, err)
		}
	}
	for name, path := range map[string]string{
		"empty":     write("empty", ""),
		"only a LF": write("lf", "\n"),
		"too large": write("big", strings.Repeat("x", MaxBytes+1)),
		"missing":   filepath.Join(dir, "missing"),
	} {
		if s, err := Read(path); err == nil {
			t.Errorf("%s: accepted %q", name, s)
		} else if strings.Contains(err.Error(), "xxxx") {
			t.Errorf("%s: the error quotes the content", name)
		}
	}
	if err := Refused("secret_key"); !strings.Contains(err.Error(), "secret_key_file") {
		t.Fatal(err)
	}
}
