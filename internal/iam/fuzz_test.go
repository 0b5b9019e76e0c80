package iam

import (
	"regexp"
	"strings"
	"testing"
)

// FuzzPatternMatch checks the wildcard matcher against regexp.
func FuzzPatternMatch(f *testing.F) {
	for _, s := range [][2]string{{"a*b?c", "axxbyc"}, {"*", ""}, {"**?", "ab"}, {"arn:aws:s3:::b/*", "arn:aws:s3:::b/k"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pat, s string) {
		if len(pat) > 64 || len(s) > 128 {
			return
		}
		var re strings.Builder
		re.WriteString(`(?s)\A`)
		for i := 0; i < len(pat); i++ {
			switch pat[i] {
			case '*':
				re.WriteString(`.*`)
			case '?':
				re.WriteString(`.`)
			default:
				re.WriteString(regexp.QuoteMeta(pat[i : i+1]))
			}
		}
		re.WriteString(`\z`)
		// The matcher works on bytes; compare on valid single-byte input.
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return
			}
		}
		for i := 0; i < len(pat); i++ {
			if pat[i] >= 0x80 {
				return
			}
		}
		want := regexp.MustCompile(re.String()).MatchString(s)
		if got := pattern(nil).appendText(pat, false).match(s, false); got != want {
			t.Fatalf("%q ~ %q: got %v, regexp says %v", pat, s, got, want)
		}
	})
}
