package kafkasrc

import (
	"fmt"
	"strconv"
)

// checkpointKey is the spool metadata key holding the next offset to read of one partition.
func checkpointKey(group, topic string, partition int) string {
	return "kafka/" + group + "/" + topic + "/" + strconv.Itoa(partition)
}

func encodeCheckpoint(next int64) []byte {
	return strconv.AppendInt(nil, next, 10)
}

func decodeCheckpoint(b []byte) (int64, bool, error) {
	if len(b) == 0 {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 {
		return 0, false, fmt.Errorf("bad kafka checkpoint %q", b)
	}
	return n, true, nil
}

// resumeOffset is where a newly assigned partition starts: the later of the group's committed
// offset and the spool checkpoint. committed < 0 means none (kafka.FirstOffset/LastOffset).
func resumeOffset(committed int64, cp CheckpointReader, key string) (int64, error) {
	b, err := cp.Meta(key)
	if err != nil {
		return 0, fmt.Errorf("read checkpoint %s: %w", key, err)
	}
	spooled, ok, err := decodeCheckpoint(b)
	if err != nil {
		return 0, fmt.Errorf("checkpoint %s: %w", key, err)
	}
	if ok && spooled > committed {
		return spooled, nil
	}
	return committed, nil
}
