package listener

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Timeouts of a Server (zero: none).
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// Server is an http.Server serving one listener in its own goroutine.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// Serve serves h on ln until Shutdown; failed is called if serving stops
// for any other reason.
func Serve(ln net.Listener, h http.Handler, t Timeouts, failed func(error)) *Server {
	s := &Server{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: t.ReadHeader,
			ReadTimeout:       t.Read,
			WriteTimeout:      t.Write,
			IdleTimeout:       t.Idle,
			MaxHeaderBytes:    64 << 10,
		},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			failed(err)
		}
	}()
	return s
}

// Addr is the address served.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops accepting and lets requests in flight finish, for up to
// 10 s (or ctx).
func (s *Server) Shutdown(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
}
