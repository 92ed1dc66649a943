package influx

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes Stats to Prometheus; register it with the service's
// registry. Values are read when scraped, so writing costs nothing extra.
func (s *Store) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Store }

var (
	descPointsWritten  = prometheus.NewDesc("fleet_influx_points_written_total", "Points InfluxDB accepted.", nil, nil)
	descPointsInvalid  = prometheus.NewDesc("fleet_influx_points_invalid_total", "Points skipped at Write: no measurement or no valid field.", nil, nil)
	descWriteRejected  = prometheus.NewDesc("fleet_influx_write_rejected_total", "Write calls refused because the spool was full.", nil, nil)
	descBatchesWritten = prometheus.NewDesc("fleet_influx_batches_written_total", "Write requests InfluxDB accepted.", nil, nil)
	descBatchesFailed  = prometheus.NewDesc("fleet_influx_batches_failed_total", "Write requests that failed, counting each attempt.", nil, nil)
	descRetries        = prometheus.NewDesc("fleet_influx_retries_total", "Write attempts after a recoverable failure.", nil, nil)
	descBatchesDropped = prometheus.NewDesc("fleet_influx_batches_dropped_total", "Batches InfluxDB rejected for their content and that were dropped.", nil, nil)
	descPointsDropped  = prometheus.NewDesc("fleet_influx_points_dropped_total", "Points in dropped batches.", nil, nil)
	descSpoolBytes     = prometheus.NewDesc("fleet_influx_spool_bytes", "Size of the spool's segment files.", nil, nil)
	descSpoolUnacked   = prometheus.NewDesc("fleet_influx_spool_unacked_batches", "Batches in the spool not yet in InfluxDB.", nil, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPointsWritten, descPointsInvalid, descWriteRejected, descBatchesWritten,
		descBatchesFailed, descRetries, descBatchesDropped, descPointsDropped, descSpoolBytes, descSpoolUnacked} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(descPointsWritten, st.PointsWritten)
	counter(descPointsInvalid, st.PointsInvalid)
	counter(descWriteRejected, st.WriteRejected)
	counter(descBatchesWritten, st.BatchesWritten)
	counter(descBatchesFailed, st.BatchesFailed)
	counter(descRetries, st.Retries)
	counter(descBatchesDropped, st.BatchesDropped)
	counter(descPointsDropped, st.PointsDropped)
	ch <- prometheus.MustNewConstMetric(descSpoolBytes, prometheus.GaugeValue, float64(st.Spool.Bytes))
	ch <- prometheus.MustNewConstMetric(descSpoolUnacked, prometheus.GaugeValue, float64(st.Spool.Unacked))
}
