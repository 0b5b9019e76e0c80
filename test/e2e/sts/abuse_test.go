package sts_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/policies"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// startLimitedSTS starts an STS with small limits and no identity
// provider (every request is decided, and refused, by policy).
func startLimitedSTS(t *testing.T, limits map[string]any) (*opasts.Server, string) {
	t.Helper()
	dir := t.TempDir()
	policyDir := filepath.Join(dir, "policy")
	must(t, policies.WriteDefault(policyDir))
	stsAddr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	writeJSON(t, filepath.Join(dir, "config.json"), map[string]any{
		"persistence_directory": dir,
		"plugins": map[string]any{
			"sts_sessions": map[string]any{"issuer": "http://" + stsAddr, "store": map[string]any{"type": "memory"}, "keys": map[string]any{"generate": true}},
			"sts":          map[string]any{"addr": stsAddr, "limits": limits},
		},
	})
	srv := opasts.Start(t, dir, "-c", filepath.Join(dir, "config.json"), policyDir)
	waitFor(t, "http://"+stsAddr+"/.well-known/jwks.json")
	return srv, stsAddr
}

func metricValue(t *testing.T, apiURL, series string) float64 {
	t.Helper()
	resp, err := http.Get(apiURL + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+]+)$`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// Clients that announce a body and trickle it hold a connection, never a
// decision slot: with every slot's worth of them open, an honest request
// is still decided; the trickling ones get RequestTimeout once the body
// deadline passes; connections over max_connections get 503 at once.
// Every refusal is counted. Bounded: loopback, a few dozen connections,
// seconds.
func TestSlowClientsDoNotStarveTheSTS(t *testing.T) {
	srv, stsAddr := startLimitedSTS(t, map[string]any{
		"max_concurrent_requests": 4, "body_read_timeout_seconds": 2, "max_connections": 40,
	})

	// Over the connection cap: 40 idle connections, then one more.
	var idle []net.Conn
	for range 40 {
		c, err := net.Dial("tcp", stsAddr)
		must(t, err)
		idle = append(idle, c)
	}
	extra, err := net.Dial("tcp", stsAddr)
	must(t, err)
	_ = extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, _ := bufio.NewReader(extra).ReadString('\n')
	extra.Close()
	if !strings.Contains(status, " 503 ") {
		t.Fatalf("connection over max_connections: %q", status)
	}
	for _, c := range idle {
		c.Close()
	}
	waitForMetric(t, srv.URL, "opa_sts_connections_refused_total", 1)

	// 16 slow clients (four times the decision slots), each announcing
	// 1000 bytes and sending one every 300 ms.
	var wg sync.WaitGroup
	answers := make(chan string, 16)
	for range 16 {
		c, err := net.Dial("tcp", stsAddr)
		must(t, err)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nAction=", stsAddr)
		must(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				b, _ := io.ReadAll(c)
				answers <- string(b)
			}()
			tick := time.NewTicker(300 * time.Millisecond)
			defer tick.Stop()
			for i := 0; i < 20; i++ {
				select {
				case <-done:
					return
				case <-tick.C:
					if _, err := c.Write([]byte("x")); err != nil {
						<-done
						return
					}
				}
			}
			<-done
		}()
	}
	time.Sleep(500 * time.Millisecond)

	// An honest client is decided meanwhile (the policy refuses a token
	// from no configured provider: 403, not 503).
	for range 5 {
		form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "RoleArn": {"arn:aws:iam::000000000000:role/x"},
			"RoleSessionName": {"honest"}, "WebIdentityToken": {"a.b.c"}}
		resp, err := http.PostForm("http://"+stsAddr+"/", form)
		must(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			t.Fatalf("an honest request starved by slow clients: %s", b)
		}
	}

	wg.Wait()
	close(answers)
	timeouts := 0
	for a := range answers {
		if strings.Contains(a, "<Code>RequestTimeout</Code>") {
			timeouts++
		}
	}
	if timeouts != 16 {
		t.Fatalf("%d of 16 slow clients were answered RequestTimeout", timeouts)
	}
	waitForMetric(t, srv.URL, `opa_sts_requests_denied_total{action="unknown",code="RequestTimeout"}`, 16)
}

func waitForMetric(t *testing.T, apiURL, series string, atLeast float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, apiURL, series) < atLeast {
		if time.Now().After(deadline) {
			t.Fatalf("%s < %v", series, atLeast)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
