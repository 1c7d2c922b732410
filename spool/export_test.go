package spool

// FailCompactionOpen makes every later compaction fail when it opens its compacted copy, the
// last step before the swap (nil = no failure).
func FailCompactionOpen(s *Spool, err error) {
	s.dbmu.Lock()
	defer s.dbmu.Unlock()
	if err == nil {
		s.failCopyOpen = nil
		return
	}
	s.failCopyOpen = func() error { return err }
}

// WithCheckGate makes the background check after an unclean stop wait for gate before it starts.
func WithCheckGate(o Options, gate <-chan struct{}) Options {
	o.checkGate = gate
	return o
}

// NoCheckDelay makes the background check start at once rather than after the first Take.
func NoCheckDelay(o Options) Options {
	o.checkDelay = -1
	return o
}
