// Package promutil registers the plugins' Prometheus collectors so that a
// plugin re-created by `opa-sts run --watch-config` keeps the collectors of
// the one it replaces.
package promutil

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c with reg, or returns the collector registered
// before under the same name, so that counting goes on where the previous
// plugin stopped instead of failing. Other errors are joined into *errp.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	if err := reg.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(C); ok {
				return existing
			}
		}
		*errp = errors.Join(*errp, err)
	}
	return c
}
