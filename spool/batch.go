package spool

// Split returns two halves of b (for bisecting a rejected batch). b must hold >= 2 rows; with
// fewer, the second half is empty. The halves share b's rows; Ack, Nack and Reject track rows by
// sequence number, so any mix of halves can be answered independently.
func (b *Batch) Split() (*Batch, *Batch) {
	mid := len(b.Rows) / 2
	return subBatch(b.Queue, b.Rows[:mid:mid]), subBatch(b.Queue, b.Rows[mid:])
}

func subBatch(q QueueKey, rows []Row) *Batch {
	n := 0
	for _, r := range rows {
		n += len(r.Data)
	}
	return &Batch{Queue: q, Rows: rows, Bytes: n}
}
