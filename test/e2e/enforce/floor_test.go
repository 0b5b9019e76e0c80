package enforce_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
)

// Fixed credentials of the floor stub: it knows one session and allows
// everything.
const stubAK, stubSK, stubToken = "ASIASTUBFLOOR0000001", "stub-floor-secret-0123456789abcdef01234", "stub-session-token"

// startStubIAMGateway starts versitygw against an in-process IAM service
// that does no work at all: no signature check, no session verification,
// no decision, a precomputed answer per endpoint. It measures the cost of
// the standalone-IAM protocol itself (versitygw makes two uncached calls
// per S3 request), the floor under any real IAM service. It is a
// measuring device for the benchmark, never a test of enforcement.
func startStubIAMGateway(b *testing.B) string {
	dir := b.TempDir()
	socket := filepath.Join(dir, "stub.sock")
	l, err := net.Listen("unix", socket)
	must(b, err)
	mac := func(key []byte, data string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(data))
		return m.Sum(nil)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Vgw-Private-Protocol", "1")
		w.Header().Set("Content-Type", "application/json")
		var out any
		switch r.URL.Path {
		case "/private/version":
			out = map[string]any{"protocol": 1, "minClient": 1, "accountId": "000000000000"}
		case "/private/derive-signing-key":
			var req struct{ Date, Region, Service string }
			_ = json.Unmarshal(body, &req)
			out = map[string]any{"derivedKey": mac(mac(mac(mac([]byte("AWS4"+stubSK), req.Date), req.Region), req.Service), "aws4_request")}
		case "/private/evaluate-policy":
			var req struct{ Actions, Resources []string }
			_ = json.Unmarshal(body, &req)
			d := make([][]string, len(req.Resources))
			for i := range d {
				d[i] = make([]string, len(req.Actions))
				for j := range d[i] {
					d[i][j] = "allow"
				}
			}
			out = map[string]any{"decisions": d}
		default:
			out = map[string]any{"identities": []any{}, "invalid": []any{}}
		}
		_ = json.NewEncoder(w).Encode(out)
	})}
	go func() { _ = srv.Serve(l) }()
	b.Cleanup(func() { _ = srv.Close() })

	s3Addr := startVersitygw(b, dir, socket, func() string { return "(the stub logs nothing)" })
	return s3Addr
}
