package jwks

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes a cache's counters to Prometheus. Register it with the
// OPA plugin manager's registerer; it reads the counters at scrape time.
type Collector struct {
	cache *Cache
	descs [7]*prometheus.Desc
}

// NewCollector returns a Prometheus collector for c.
func NewCollector(c *Cache) *Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("opa_sts_jwks_"+name, help, nil, nil)
	}
	return &Collector{cache: c, descs: [7]*prometheus.Desc{
		d("cache_hits_total", "Key set lookups answered from the cache."),
		d("cache_misses_total", "Key set lookups that found no fresh key set."),
		d("fetches_total", "Key set fetches from identity providers."),
		d("fetch_errors_total", "Failed key set fetches."),
		d("stale_served_total", "Expired key sets served while the identity provider was unreachable."),
		d("refetch_unknown_kid_total", "Key set refetches caused by a token with an unknown kid."),
		d("refetch_suppressed_total", "Unknown kids that caused no refetch because of the rate limit."),
	}}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.cache.Stats()
	vals := [7]uint64{s.Hits, s.Misses, s.Fetches, s.FetchErrors, s.StaleServed, s.RefetchUnknownKID, s.RefetchSuppressed}
	for i, d := range c.descs {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(vals[i]))
	}
}
