package pipeline

import (
	"testing"

	"github.com/pbi-pusher/pbi-pusher/batcher"
	"github.com/pbi-pusher/pbi-pusher/config"
)

// Kafka sources feeding one dataset split its budget in configuration order; other sources and
// other datasets do not count.
func TestKafkaShare(t *testing.T) {
	cfg := &config.Config{
		Datasets: []config.Dataset{
			{Name: "A", Tables: []config.Table{{Name: "x"}, {Name: "y"}}},
			{Name: "B", Tables: []config.Table{{Name: "z"}}},
		},
		Sources: []config.Source{
			{Type: "kafka", Table: "A/x"},
			{Type: "file", Table: "A/x"},
			{Type: "kafka", Table: "B/z"},
			{Type: "kafka", Table: "A/y"},
			{Type: "http", Table: "B/z"},
		},
	}
	tests := []struct {
		i       int
		dataset string
		want    batcher.ShareSource
		ok      bool
	}{
		{0, "A", batcher.ShareSource{Index: 0, Count: 2}, true},
		{1, "", batcher.ShareSource{}, false},
		{2, "B", batcher.ShareSource{Index: 0, Count: 1}, true},
		{3, "A", batcher.ShareSource{Index: 1, Count: 2}, true},
		{4, "", batcher.ShareSource{}, false},
		{9, "", batcher.ShareSource{}, false},
	}
	for _, tc := range tests {
		ds, src, ok := KafkaShare(cfg, tc.i)
		if ds != tc.dataset || src != tc.want || ok != tc.ok {
			t.Errorf("KafkaShare(%d) = %q %+v %v, want %q %+v %v", tc.i, ds, src, ok, tc.dataset, tc.want, tc.ok)
		}
	}
	if n := kafkaSources(cfg, "A"); n != 2 {
		t.Errorf("kafkaSources(A) = %d, want 2", n)
	}
	if n := kafkaSources(cfg, "B"); n != 1 {
		t.Errorf("kafkaSources(B) = %d, want 1", n)
	}
}
