package kafkasrc

import (
	"errors"
	"testing"

	"github.com/segmentio/kafka-go"
)

type metaMap map[string][]byte

func (m metaMap) Meta(k string) ([]byte, error) { return m[k], nil }

type metaErr struct{}

func (metaErr) Meta(string) ([]byte, error) { return nil, errors.New("disk on fire") }

func TestResumeOffset(t *testing.T) {
	key := checkpointKey("g", "t", 3)
	if key != "kafka/g/t/3" {
		t.Fatalf("key = %q", key)
	}
	tests := []struct {
		name      string
		committed int64
		cp        []byte
		want      int64
	}{
		{"no checkpoint, no commit", kafka.FirstOffset, nil, kafka.FirstOffset},
		{"no checkpoint, latest", kafka.LastOffset, nil, kafka.LastOffset},
		{"no checkpoint", 100, nil, 100},
		{"checkpoint ahead of commit (crash before commit)", 100, encodeCheckpoint(150), 150},
		{"checkpoint behind commit (other spool)", 100, encodeCheckpoint(50), 100},
		{"checkpoint, no commit", kafka.FirstOffset, encodeCheckpoint(7), 7},
		{"checkpoint zero, latest", kafka.LastOffset, encodeCheckpoint(0), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resumeOffset(tc.committed, metaMap{key: tc.cp}, key)
			if err != nil || got != tc.want {
				t.Fatalf("resumeOffset = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestResumeOffsetErrors(t *testing.T) {
	key := checkpointKey("g", "t", 0)
	if _, err := resumeOffset(5, metaMap{key: []byte("x1")}, key); err == nil {
		t.Error("corrupt checkpoint accepted")
	}
	if _, err := resumeOffset(5, metaMap{key: []byte("-3")}, key); err == nil {
		t.Error("negative checkpoint accepted")
	}
	if _, err := resumeOffset(5, metaErr{}, key); err == nil {
		t.Error("Meta error swallowed")
	}
}
