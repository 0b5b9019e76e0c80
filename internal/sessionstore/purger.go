package sessionstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultPurgeInterval is what RunPurger uses for a non-positive interval.
const DefaultPurgeInterval = time.Minute

// RunPurger calls st.PurgeExpired once at start (a restarted node may find
// many expired sessions) and then every interval, until ctx ends. It logs
// removals and errors through logf and never panics: a panic in the store is
// recovered and logged. It returns when ctx ends or the store is closed. A
// nil now means time.Now; a nil logf discards messages.
func RunPurger(ctx context.Context, st Store, interval time.Duration, now func() time.Time, logf func(format string, args ...any)) {
	if now == nil {
		now = time.Now
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if interval <= 0 {
		logf("sessionstore: purge interval %s is not positive, using %s", interval, DefaultPurgeInterval)
		interval = DefaultPurgeInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if ctx.Err() != nil {
			return
		}
		n, err := purgeOnce(ctx, st, now())
		switch {
		case errors.Is(err, ErrClosed):
			logf("sessionstore: purger stopping: %v", err)
			return
		case err != nil && ctx.Err() != nil:
			return // cancelled mid-purge: not worth a log line
		case err != nil:
			logf("sessionstore: purge failed after removing %d expired sessions: %v", n, err)
		case n > 0:
			logf("sessionstore: purged %d expired sessions", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func purgeOnce(ctx context.Context, st Store, now time.Time) (n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in PurgeExpired: %v", p)
		}
	}()
	return st.PurgeExpired(ctx, now)
}
