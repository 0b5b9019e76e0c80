// Package listener opens and serves the hardened listeners of opa-sts's
// own servers (the STS, MinIO's identity plugin, the versitygw IAM
// listener): open connections capped below TLS, TLS 1.2 or 1.3 from
// files, and the plugin lifecycle (Start, Stop, Reconfigure) around them.
package listener

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// cappedListener caps the open connections of a listener. A connection
// over the cap is answered with a bare 503 and closed at once (and
// counted), so that a flood of idle or slow connections cannot exhaust
// file descriptors or memory, and the client learns why.
type cappedListener struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused func()
}

// Capped caps the open connections of ln at max; refused is called for
// each connection refused.
func Capped(ln net.Listener, max int, refused func()) net.Listener {
	return &cappedListener{Listener: ln, max: int64(max), refused: refused}
}

// TLS configures HTTPS from PEM files.
type TLS struct {
	CertFile   string `json:"cert_file"`
	KeyFile    string `json:"key_file"`
	MinVersion string `json:"min_version"` // "1.2" (default) or "1.3"

	minVersion uint16
}

// Validate checks the settings (the files are read by Listen).
func (t *TLS) Validate() error {
	if t.CertFile == "" || t.KeyFile == "" {
		return errors.New("tls: cert_file and key_file are required")
	}
	switch t.MinVersion {
	case "", "1.2":
		t.minVersion = tls.VersionTLS12
	case "1.3":
		t.minVersion = tls.VersionTLS13
	default:
		return fmt.Errorf("tls.min_version %q: use 1.2 or 1.3", t.MinVersion)
	}
	return nil
}

// Listen listens on addr with at most maxConns open connections (refused
// counts the others), serving TLS when t is set (validated).
func Listen(addr string, t *TLS, maxConns int, refused func()) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	// Capped below TLS, so that the server still sees *tls.Conn.
	ln = Capped(ln, maxConns, refused)
	if t == nil {
		return ln, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("tls: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: t.minVersion}), nil
}

const busyBody = "too many connections, retry\n"

var busyResponse = []byte("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: " +
	strconv.Itoa(len(busyBody)) + "\r\n\r\n" + busyBody)

func (l *cappedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			l.refused()
			go refuse(c)
			continue
		}
		return &countedConn{Conn: c, l: l}, nil
	}
}

// refuse answers 503 without reading the request. The cap sits below TLS:
// a TLS client sees a failed handshake instead.
func refuse(c net.Conn) {
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(busyResponse)
	_ = c.Close()
}

type countedConn struct {
	net.Conn
	l    *cappedListener
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}
