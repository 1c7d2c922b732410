package emulator

import (
	"net/http"
	"time"
)

// fault is the injected behaviour chosen for one POST rows request.
type fault struct {
	fail, throttle, drop, slow bool
}

// rollLocked draws the request's faults: fail, throttle and drop exclude each other; slow is
// independent. s.mu must be held (the generator is not safe for concurrent use).
func (s *Server) rollLocked() fault {
	var f fault
	u := s.rng.Float64()
	switch {
	case u < s.o.FailRate:
		f.fail = true
	case u < s.o.FailRate+s.o.ThrottleRate:
		f.throttle = true
	case u < s.o.FailRate+s.o.ThrottleRate+s.o.DropRate:
		f.drop = true
	}
	f.slow = s.o.SlowRate > 0 && s.rng.Float64() < s.o.SlowRate
	return f
}

// injected turns an injected 500 or 429 into an error and counts it.
func (s *Server) injected(p post) *apiError {
	if !p.fault.fail && !p.fault.throttle {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.fault.fail {
		p.d.stats.failed++
		return &apiError{status: http.StatusInternalServerError, code: CodeInternal,
			msg: "An internal error occurred (injected by the emulator)."}
	}
	p.d.stats.throttles[ReasonInjected]++
	return &apiError{status: http.StatusTooManyRequests, code: CodeTooManyRequest, retryAfter: 1,
		msg: "You have exceeded the amount of requests allowed in the current time frame and further requests will fail. Retry in 1 seconds."}
}

// delay waits SlowDelay (real time) unless the client goes away first; it reports whether the
// request should still be answered.
func (s *Server) delay(r *http.Request) bool {
	s.mu.Lock()
	s.countSlowLocked(r)
	s.mu.Unlock()
	t := time.NewTimer(s.o.SlowDelay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (s *Server) countSlowLocked(r *http.Request) {
	if d := s.findLocked(r); d != nil {
		d.stats.slowed++
	}
}

// dropConnection closes the connection without a response: the rows are already stored.
// Where the connection cannot be hijacked (HTTP/2) it answers 500 instead.
func (s *Server) dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	s.o.Logger.Warn("cannot hijack connection to drop it; answering 500")
	writeError(w, http.StatusInternalServerError, CodeInternal, "Connection drop not possible; rows were stored.")
}
