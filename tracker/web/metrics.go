package web

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nodewatch/nodewatch/tracker"
)

// Metrics are nodewatch's Prometheus metrics, on a registry of their own so that
// nothing else in the process adds to them.
type Metrics struct {
	registry       *prometheus.Registry
	cycleSeconds   prometheus.Histogram
	lastSuccess    prometheus.Gauge
	sourceUp       *prometheus.GaugeVec
	sourceRequests *prometheus.CounterVec
	sourceErrors   *prometheus.CounterVec
	events         *prometheus.CounterVec
	deliveries     *prometheus.CounterVec
	backups        *prometheus.CounterVec
	lastBackup     prometheus.Gauge
	// store is what the scrape-time collector reads; New sets it.
	store atomic.Pointer[storeView]
}

type storeView struct {
	store   tracker.Store
	now     func() time.Time
	version string
	pools   *tracker.PoolWatch // nil: no pool metrics
	db      tracker.Database   // nil: no database metrics
}

// NewMetrics registers every collector, the Go runtime's and the process's included.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		cycleSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "nodewatch_cycle_duration_seconds",
			Help: "How long a cycle took, from an idle one (all 304) to a cold read of every source.",
			// An idle cycle takes well under a second; a cold one can take minutes.
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nodewatch_last_cycle_success_timestamp_seconds",
			Help: "When the last cycle in which every source succeeded finished.",
		}),
		sourceUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nodewatch_source_up",
			Help: "Whether the source succeeded in the last cycle (1) or failed (0).",
		}, []string{"source"}),
		sourceRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodewatch_source_requests_total",
			Help: "HTTP requests per source: 304 answered Not Modified, error got no answer or a 4xx/5xx, 200 every other.",
		}, []string{"source", "status"}),
		sourceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodewatch_source_errors_total",
			Help: "Errors per source: a failed listing, note, feed or release page.",
		}, []string{"source"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodewatch_events_total",
			Help: "New events recorded, by kind.",
		}, []string{"kind"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodewatch_deliveries_total",
			Help: "Delivery attempts by notifier and outcome (delivered, failed, given_up).",
		}, []string{"notifier", "outcome"}),
		backups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nodewatch_backups_total",
			Help: "Rotating backups of the database (storage.backup) by outcome (ok, failed).",
		}, []string{"outcome"}),
		lastBackup: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nodewatch_backup_last_success_timestamp_seconds",
			Help: "When the newest rotating backup of the database was taken (one found at start counts; 0: none yet).",
		}),
	}
	// Zero series from the start, so that rate() and alerts see the first increase.
	for _, k := range tracker.EventKinds {
		m.events.WithLabelValues(string(k))
	}
	m.registry.MustRegister(
		m.cycleSeconds, m.lastSuccess, m.sourceUp, m.sourceRequests, m.sourceErrors, m.events, m.deliveries,
		storeCollector{m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// ObserveCycle records one cycle's report and the events it recorded.
func (m *Metrics) ObserveCycle(rep tracker.CycleReport, events []tracker.Event) {
	m.cycleSeconds.Observe(float64(rep.DurationMS) / 1000)
	var ok, failed int
	for _, s := range rep.Sources {
		up := 1.0
		if s.Failed() {
			up = 0
			failed++
		} else {
			ok++
		}
		m.sourceUp.WithLabelValues(s.Source).Set(up)
		// The request counter does not tell statuses apart beyond 304: failed requests are
		// in "200" too, and counted again by nodewatch_source_errors_total.
		m.sourceRequests.WithLabelValues(s.Source, "200").Add(float64(max(s.Requests-s.NotModified-s.FailedRequests, 0)))
		m.sourceRequests.WithLabelValues(s.Source, "304").Add(float64(s.NotModified))
		m.sourceRequests.WithLabelValues(s.Source, "error").Add(float64(s.FailedRequests))
		m.sourceErrors.WithLabelValues(s.Source).Add(float64(len(s.Errors)))
	}
	if ok > 0 && failed == 0 {
		m.lastSuccess.Set(float64(rep.Finished.Unix()))
	}
	for _, e := range events {
		m.events.WithLabelValues(string(e.Kind)).Inc()
	}
}

// ObserveDelivery records one delivery attempt; it fits tracker.Dispatcher.Observe.
func (m *Metrics) ObserveDelivery(notifier, outcome string) {
	m.deliveries.WithLabelValues(notifier, outcome).Inc()
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	// ContinueOnError: a store that cannot be read costs the image ages, not the scrape.
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

func (m *Metrics) bind(s tracker.Store, now func() time.Time, version string, pools *tracker.PoolWatch, db tracker.Database) {
	m.store.Store(&storeView{store: s, now: now, version: version, pools: pools, db: db})
}

// WatchBackups adds the metrics of the rotating backups (storage.backup): without them
// configured there are none, so that no alert on stale backups fires for a daemon that
// takes none.
func (m *Metrics) WatchBackups() {
	for _, o := range []string{"ok", "failed"} {
		m.backups.WithLabelValues(o)
	}
	m.registry.MustRegister(m.backups, m.lastBackup)
}

// FoundBackup records the newest backup there is, taken before this process started.
func (m *Metrics) FoundBackup(at time.Time) { m.lastBackup.Set(float64(at.Unix())) }

// ObserveBackup records one rotating backup taken (err nil) or failed.
func (m *Metrics) ObserveBackup(at time.Time, err error) {
	if err != nil {
		m.backups.WithLabelValues("failed").Inc()
		return
	}
	m.backups.WithLabelValues("ok").Inc()
	m.lastBackup.Set(float64(at.Unix()))
}

var (
	imageAgeDesc = prometheus.NewDesc("nodewatch_newest_image_age_seconds",
		"How long ago the newest image of the family was built (its build time, or the day its version names).",
		[]string{"family"}, nil)
	buildInfoDesc = prometheus.NewDesc("nodewatch_build_info", "The running nodewatch's version.", []string{"version"}, nil)
	// The family gauges are judged on upstream data, as family_quiet is: against the newest
	// image of all families, not the clock. Prometheus wants base units: seconds, in whole
	// days for the days behind.
	familyQuietDesc = prometheus.NewDesc("nodewatch_family_quiet",
		"Whether the family fell quiet (1): its newest image is 21 days and 3 usual intervals older than the newest of all families.",
		[]string{"family", "os_line"}, nil)
	familyBehindDesc = prometheus.NewDesc("nodewatch_family_newest_image_behind_seconds",
		"How much older the family's newest image is than the newest image of all families, in whole days (by build day).",
		[]string{"family"}, nil)
	familyIntervalDesc = prometheus.NewDesc("nodewatch_family_usual_interval_seconds",
		"The family's usual interval: the median gap between the build days of its last 10 images; absent with one image.",
		[]string{"family"}, nil)
	// The pool gauges are judged at scrape time from what the cluster watches hold now,
	// against the history as of the last cycle.
	poolNodesDesc = prometheus.NewDesc("nodewatch_pool_nodes",
		"Nodes in the pool, over every image it runs (a pool mid-upgrade runs two).",
		[]string{"cluster", "pool"}, nil)
	poolImagesBehindDesc = prometheus.NewDesc("nodewatch_pool_images_behind",
		"How many images of its family are newer than the image the pool runs (the furthest behind, mid-upgrade); absent where unknown.",
		[]string{"cluster", "pool", "family"}, nil)
	// The contract names this one in days (a pool is behind by so many days, as
	// `behind.days` says), not in seconds.
	poolDaysBehindDesc = prometheus.NewDesc("nodewatch_pool_days_behind",
		"How many days older than the newest image of its family the image the pool runs is (the furthest behind, by the days their versions name); absent where unknown.",
		[]string{"cluster", "pool", "family"}, nil)
	dbProblemsDesc = prometheus.NewDesc("nodewatch_database_problems",
		"What bbolt's consistency check (at start and daily) and the reads found wrong with the database file: 0 when sound; above 0 it is not written.",
		nil, nil)
	dbCheckedDesc = prometheus.NewDesc("nodewatch_database_last_check_timestamp_seconds",
		"When the database file was last checked whole.", nil, nil)
	dbCheckSecondsDesc = prometheus.NewDesc("nodewatch_database_check_duration_seconds",
		"How long the last check of the database file took.", nil, nil)
	clusterUpDesc = prometheus.NewDesc("nodewatch_cluster_up",
		"Whether the cluster's API server can be read now (1) or not (0); its pools keep the nodes last read.",
		[]string{"cluster"}, nil)
)

// storeCollector reads the store at scrape time: image ages grow between cycles.
type storeCollector struct{ m *Metrics }

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- imageAgeDesc
	ch <- buildInfoDesc
	ch <- familyQuietDesc
	ch <- familyBehindDesc
	ch <- familyIntervalDesc
	ch <- poolNodesDesc
	ch <- poolImagesBehindDesc
	ch <- poolDaysBehindDesc
	ch <- clusterUpDesc
	ch <- dbProblemsDesc
	ch <- dbCheckedDesc
	ch <- dbCheckSecondsDesc
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	v := c.m.store.Load()
	if v == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(buildInfoDesc, prometheus.GaugeValue, 1, v.version)
	if v.db != nil {
		c := v.db.LastCheck()
		ch <- prometheus.MustNewConstMetric(dbProblemsDesc, prometheus.GaugeValue, float64(len(c.Problems)))
		ch <- prometheus.MustNewConstMetric(dbCheckedDesc, prometheus.GaugeValue, float64(c.At.Unix()))
		ch <- prometheus.MustNewConstMetric(dbCheckSecondsDesc, prometheus.GaugeValue, c.Took.Seconds())
	}
	if v.pools != nil {
		collectPools(ch, v.pools)
	}
	images, err := v.store.Images("")
	if err != nil {
		for _, d := range []*prometheus.Desc{imageAgeDesc, familyQuietDesc, familyBehindDesc, familyIntervalDesc} {
			ch <- prometheus.NewInvalidMetric(d, err)
		}
		return
	}
	newest := map[string]tracker.NodeImage{}
	for _, im := range images {
		if cur, ok := newest[im.Family]; !ok || tracker.CompareImageVersions(im.Version, cur.Version) > 0 {
			newest[im.Family] = im
		}
	}
	now := v.now()
	for family, im := range newest {
		ch <- prometheus.MustNewConstMetric(imageAgeDesc, prometheus.GaugeValue, now.Sub(im.Day()).Seconds(), family)
	}
	const day = 24 * 60 * 60
	for _, f := range tracker.FamilyStatuses(images) {
		quiet := 0.0
		if f.Quiet {
			quiet = 1
		}
		ch <- prometheus.MustNewConstMetric(familyQuietDesc, prometheus.GaugeValue, quiet, f.Family, f.OSLine)
		ch <- prometheus.MustNewConstMetric(familyBehindDesc, prometheus.GaugeValue, float64(f.BehindDays*day), f.Family)
		if f.IntervalDays != nil {
			ch <- prometheus.MustNewConstMetric(familyIntervalDesc, prometheus.GaugeValue, *f.IntervalDays*day, f.Family)
		}
	}
}

// collectPools reports each cluster and each pool: a pool's nodes over all its entries,
// and per family the worst entry's images and days behind.
func collectPools(ch chan<- prometheus.Metric, w *tracker.PoolWatch) {
	pools, clusters := w.Pools()
	for _, c := range clusters {
		up := 0.0
		if c.Error == "" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(clusterUpDesc, prometheus.GaugeValue, up, c.Cluster)
	}
	type poolKey struct{ cluster, pool string }
	type familyKey struct{ cluster, pool, family string }
	nodes := map[poolKey]int{}
	var order []poolKey
	images, days := map[familyKey]int{}, map[familyKey]int{}
	for _, p := range pools {
		k := poolKey{p.Cluster, p.Pool}
		if _, ok := nodes[k]; !ok {
			order = append(order, k)
		}
		nodes[k] += p.Nodes
		fk := familyKey{p.Cluster, p.Pool, p.Family}
		if p.Family == "" {
			continue
		}
		if p.ImagesBehind != nil {
			if cur, ok := images[fk]; !ok || *p.ImagesBehind > cur {
				images[fk] = *p.ImagesBehind
			}
		}
		if p.DaysBehind != nil {
			if cur, ok := days[fk]; !ok || *p.DaysBehind > cur {
				days[fk] = *p.DaysBehind
			}
		}
	}
	for _, k := range order {
		ch <- prometheus.MustNewConstMetric(poolNodesDesc, prometheus.GaugeValue, float64(nodes[k]), k.cluster, k.pool)
	}
	for k, n := range images {
		ch <- prometheus.MustNewConstMetric(poolImagesBehindDesc, prometheus.GaugeValue, float64(n), k.cluster, k.pool, k.family)
	}
	for k, n := range days {
		ch <- prometheus.MustNewConstMetric(poolDaysBehindDesc, prometheus.GaugeValue, float64(n), k.cluster, k.pool, k.family)
	}
}
