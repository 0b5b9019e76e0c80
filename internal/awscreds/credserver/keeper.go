package credserver

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/opa-sts/opa-sts/internal/awscreds"
)

// Retry delays after a failed fetch: doubling from minRetry to maxRetry.
const (
	minRetry = time.Second
	maxRetry = 30 * time.Second
)

// Keeper holds the current credentials and renews them: in the background
// before they need renewal (Run), and on demand when a request finds them
// due (Get). One fetch runs at a time, whoever asked for it.
type Keeper struct {
	fetch  func(context.Context) (awscreds.Credentials, error)
	timing awscreds.Timing
	log    *slog.Logger
	now    func() time.Time

	flight singleflight.Group

	mu        sync.Mutex
	cur       awscreds.Credentials
	have      bool
	lastErr   error
	failedAt  time.Time
	renewedAt time.Time
	retryWait time.Duration
	changed   chan struct{} // closed and replaced when cur changes or a fetch fails
}

// NewKeeper returns a Keeper that gets credentials from fetch.
func NewKeeper(fetch func(context.Context) (awscreds.Credentials, error), t awscreds.Timing, log *slog.Logger) *Keeper {
	return &Keeper{fetch: fetch, timing: t, log: log, now: time.Now, changed: make(chan struct{})}
}

// Get returns credentials that need no renewal yet, renewing them when
// they do. When renewal fails, credentials that are still usable are
// returned; otherwise the error. After a failure, requests within the
// retry delay do not start another fetch: they get the last error (or the
// usable credentials), and the background loop retries.
func (k *Keeper) Get(ctx context.Context) (awscreds.Credentials, error) {
	k.mu.Lock()
	cur, have, now := k.cur, k.have, k.now()
	if have && k.timing.Fresh(cur, now) {
		k.mu.Unlock()
		return cur, nil
	}
	if k.lastErr != nil && now.Sub(k.failedAt) < k.retryWait {
		err := k.lastErr
		k.mu.Unlock()
		if have && awscreds.Usable(cur, now) {
			return cur, nil
		}
		return awscreds.Credentials{}, err
	}
	k.mu.Unlock()
	c, err := k.renew(ctx)
	if err == nil {
		return c, nil
	}
	if have && awscreds.Usable(cur, k.now()) {
		return cur, nil
	}
	return awscreds.Credentials{}, err
}

// renew runs one fetch (joining one in flight) and records its outcome.
// The fetch does not end with the request that started it: others may be
// waiting for it, and its result serves them all.
func (k *Keeper) renew(ctx context.Context) (awscreds.Credentials, error) {
	ch := k.flight.DoChan("fetch", func() (any, error) {
		c, err := k.fetch(context.WithoutCancel(ctx))
		k.record(c, err)
		return c, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return awscreds.Credentials{}, r.Err
		}
		return r.Val.(awscreds.Credentials), nil
	case <-ctx.Done():
		return awscreds.Credentials{}, ctx.Err()
	}
}

func (k *Keeper) record(c awscreds.Credentials, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		k.lastErr, k.failedAt = err, k.now()
		k.retryWait = min(maxRetry, max(minRetry, 2*k.retryWait))
		k.log.Error("getting credentials failed", "error", err.Error(), "retry_in", k.retryWait.String())
	} else {
		k.cur, k.have, k.lastErr, k.retryWait, k.renewedAt = c, true, nil, 0, k.now()
		k.log.Info("obtained credentials", "credentials", c, "renew_at", k.timing.RefreshAt(c).UTC())
	}
	close(k.changed)
	k.changed = make(chan struct{})
}

// Run renews the credentials in the background until ctx ends: at once,
// then whenever they are due, retrying failures with a growing delay.
func (k *Keeper) Run(ctx context.Context) {
	for {
		k.mu.Lock()
		wait := time.Duration(0)
		switch {
		case k.lastErr != nil:
			wait = k.retryWait - k.now().Sub(k.failedAt)
		case k.have:
			// Never renew twice within minRetry, even credentials that
			// are due at once (a clock that is off, a tiny lifetime).
			wait = max(k.timing.RefreshAt(k.cur).Sub(k.now()), k.renewedAt.Add(minRetry).Sub(k.now()))
		}
		changed := k.changed
		k.mu.Unlock()
		if wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-changed: // renewed on demand, or failed: recompute
				timer.Stop()
				continue
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		_, _ = k.renew(ctx)
	}
}
