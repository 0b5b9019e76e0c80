package sigv4

import (
	"net/http"
	"testing"
)

// An AssumeRole as aws-sdk-go-v2 signs it with session credentials (role
// chaining): its SDK headers, the token, the form body.
func benchRequest(b *testing.B) *http.Request {
	return headerSigned(b, signOpts{token: testToken, before: func(r *http.Request) {
		r.Header.Set("Amz-Sdk-Invocation-Id", "42f2cb6e-7066-48fb-8af8-9d15ea888a3c")
		r.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
		r.Header.Set("User-Agent", "aws-sdk-go-v2/1.48.0 ua/2.1 os/linux lang/go#1.26.8 api/sts#1.52.0")
	}})
}

func BenchmarkParseVerifyHeaderForm(b *testing.B) {
	r := benchRequest(b)
	body := []byte(testBody)
	b.ReportAllocs()
	for b.Loop() {
		a, err := Parse(r, "sts")
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Verify(r, body, testSecret, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseHeaderForm(b *testing.B) {
	r := benchRequest(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(r, "sts"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseVerifyQueryForm(b *testing.B) {
	r := presigned(b, signOpts{token: testToken, expires: 60})
	b.ReportAllocs()
	for b.Loop() {
		a, err := Parse(r, "sts")
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Verify(r, nil, testSecret, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// A wrong signature costs what a right one does: the refusal path.
func BenchmarkParseVerifyMismatch(b *testing.B) {
	r := benchRequest(b)
	body := []byte(testBody)
	b.ReportAllocs()
	for b.Loop() {
		a, err := Parse(r, "sts")
		if err != nil {
			b.Fatal(err)
		}
		if a.Verify(r, body, "wrong", testNow) == nil {
			b.Fatal("verified")
		}
	}
}
