package pipeline

import (
	"time"

	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/config"
)

// KafkaShare returns the dataset that source i of cfg feeds and its place among the Kafka sources
// feeding that dataset (configuration order), which splits the dataset's budget between them
// (batcher/share.go); ok is false for other sources.
func KafkaShare(cfg *config.Config, i int) (dataset string, src batcher.ShareSource, ok bool) {
	if i < 0 || i >= len(cfg.Sources) || cfg.Sources[i].Type != "kafka" {
		return "", batcher.ShareSource{}, false
	}
	ds, _, err := cfg.FindTable(cfg.Sources[i].Table)
	if err != nil {
		return "", batcher.ShareSource{}, false
	}
	for j := range cfg.Sources {
		if d, _, ok := kafkaDataset(cfg, j); ok && d == ds.Name {
			if j < i {
				src.Index++
			}
			src.Count++
		}
	}
	return ds.Name, src, true
}

// kafkaSources returns how many Kafka sources feed dataset.
func kafkaSources(cfg *config.Config, dataset string) int {
	n := 0
	for j := range cfg.Sources {
		if d, _, ok := kafkaDataset(cfg, j); ok && d == dataset {
			n++
		}
	}
	return n
}

func kafkaDataset(cfg *config.Config, j int) (string, config.Source, bool) {
	sc := cfg.Sources[j]
	if sc.Type != "kafka" {
		return "", sc, false
	}
	ds, _, err := cfg.FindTable(sc.Table)
	if err != nil {
		return "", sc, false
	}
	return ds.Name, sc, true
}

// awaitServiceRows is how long a dispatcher holds its first POST for the service's row counts:
// one request timeout with read-back on, 0 with it off.
func awaitServiceRows(cfg *config.Config) time.Duration {
	if !cfg.PowerBI.ReadBackOn() {
		return 0
	}
	if d := time.Duration(cfg.PowerBI.RequestTimeout); d > 0 {
		return d
	}
	return 60 * time.Second
}
