package sts

import (
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

func newCappedListener(ln net.Listener, max int, refused func()) net.Listener {
	return &cappedListener{Listener: ln, max: int64(max), refused: refused}
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
