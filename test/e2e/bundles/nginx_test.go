package bundles_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// nginx is a real HTTP bundle server (Debian's nginx) serving a directory
// on loopback, with ETags as nginx sends them for static files.
type nginx struct {
	URL  string
	Root string
	cmd  *exec.Cmd
	logs *opasts.SyncBuffer
	done chan struct{}

	lastMTime time.Time // of the last published file
}

func startNginx(t *testing.T) *nginx {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("nginx is not installed (.ci/run installs Debian's nginx): %v", err)
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "www")
	must(t, os.MkdirAll(root, 0o755))
	port := opasts.FreePort(t)
	conf := fmt.Sprintf(`
user root;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
daemon off;
events { worker_connections 64; }
http {
  access_log %[1]s/access.log;
  client_body_temp_path %[1]s/tmp;
  proxy_temp_path %[1]s/tmp;
  fastcgi_temp_path %[1]s/tmp;
  uwsgi_temp_path %[1]s/tmp;
  scgi_temp_path %[1]s/tmp;
  server {
    listen 127.0.0.1:%[2]d;
    root %[3]s;
    etag on;
  }
}
`, dir, port, root)
	must(t, os.MkdirAll(filepath.Join(dir, "tmp"), 0o700))
	confFile := filepath.Join(dir, "nginx.conf")
	must(t, os.WriteFile(confFile, []byte(conf), 0o600))
	n := &nginx{URL: "http://127.0.0.1:" + strconv.Itoa(port), Root: root, logs: &opasts.SyncBuffer{}, done: make(chan struct{})}
	n.cmd = exec.Command(bin, "-c", confFile, "-p", dir)
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	must(t, n.cmd.Start())
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	t.Cleanup(n.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get(n.URL + "/"); err == nil {
			resp.Body.Close()
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not start: %s", n.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends nginx (the bundle server goes down); idempotent.
func (n *nginx) Stop() {
	select {
	case <-n.done:
		return
	default:
	}
	_ = n.cmd.Process.Signal(os.Interrupt)
	select {
	case <-n.done:
	case <-time.After(5 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}

// publish atomically replaces a file of the web root, as a careful
// publisher does: nginx's ETag is the file's modification time in whole
// seconds and its size, so two bundles of one size published within one
// second would share an ETag and the second would be answered 304 Not
// Modified. Each file published gets a modification time at least a
// second after the previous one's.
func (n *nginx) publish(t *testing.T, name string, data []byte) {
	t.Helper()
	tmp := filepath.Join(n.Root, "."+name+".tmp")
	must(t, os.WriteFile(tmp, data, 0o644))
	mtime := time.Now().Truncate(time.Second)
	if !mtime.After(n.lastMTime) {
		mtime = n.lastMTime.Add(time.Second)
	}
	n.lastMTime = mtime
	must(t, os.Chtimes(tmp, mtime, mtime))
	must(t, os.Rename(tmp, filepath.Join(n.Root, name)))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	r := opasts.Run(t, dir, args...)
	if r.Exit != 0 {
		t.Fatalf("opa-sts %v: exit %d\n%s%s", args, r.Exit, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

func waitUntil(t *testing.T, what string, timeout time.Duration, f func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		if f() {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var _ = bytes.NewReader
