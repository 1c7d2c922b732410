package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/pbi-pusher/pbi-pusher/auth"
	"github.com/pbi-pusher/pbi-pusher/sink"
)

// SinkState is what a dataset's connection to Power BI is doing.
type SinkState string

// Sink states. Rows are accepted and spooled in every one of them.
const (
	SinkConnecting SinkState = "connecting"  // resolving the dataset; no answer yet
	SinkUp         SinkState = "up"          // the service answers
	SinkFailing    SinkState = "failing"     // unreachable or failing (5xx): retried with backoff
	SinkAuthFailed SinkState = "auth_failed" // a fresh token refused, or credentials Entra ID refuses: retried with backoff
	SinkParked     SinkState = "parked"      // a permanent answer (no permission, not a push dataset): waits for SIGHUP
)

// SinkStates lists every state (for metrics).
var SinkStates = []SinkState{SinkConnecting, SinkUp, SinkFailing, SinkAuthFailed, SinkParked}

// Sink error classes counted by SinkHealth.Errors.
const (
	ErrUnreachable  = "unreachable"   // no answer (connection refused, timeout, TLS)
	ErrServer       = "server"        // 5xx or 408
	ErrThrottled    = "throttled"     // 429
	ErrRejected     = "rejected"      // 400/413 on rows (bisected)
	ErrDeadLettered = "dead_lettered" // single rows the service refused, dead-lettered
	ErrAuth         = "auth"          // token refused twice or not issued
	ErrFatal        = "fatal"         // a permanent answer
)

// ErrorClasses lists every class of SinkHealth.Errors (for metrics).
var ErrorClasses = []string{ErrUnreachable, ErrServer, ErrThrottled, ErrRejected, ErrDeadLettered, ErrAuth, ErrFatal}

// SinkHealth is a snapshot of one dataset's sink state.
type SinkHealth struct {
	State  SinkState
	Reason string    // the failure that put the dataset in its state ("" when up)
	Since  time.Time // when the state began
	// Down is when the current outage began (zero when up).
	Down        time.Time
	LastSuccess time.Time // last 2xx (zero: none yet)
	// Permanent: the failure cannot heal by itself (parked; credentials refused). backfill exits.
	Permanent bool
	Errors    map[string]int64 // sink errors since start, by class (ErrorClasses)
}

// Intervals of the health logs.
const (
	reminderEvery  = 5 * time.Minute // "still failing" while a dataset is down
	aggregateEvery = time.Minute     // counts of 5xx, rejections and dead letters
	healthTick     = 10 * time.Second
)

// health tracks one dataset's sink state and logs it loudly but boundedly: once per transition,
// a reminder every 5 minutes while down, and aggregated error counts (never one line per POST).
type health struct {
	dataset string
	log     *slog.Logger
	waiting func() int // rows of the dataset waiting in the spool

	mu          sync.Mutex
	cur         SinkHealth
	total       map[string]int64
	window      map[string]int64 // since the last aggregate log
	lastAgg     time.Time
	lastRemind  time.Time
	hadOutage   bool // the dataset was down since it last was up (recovery is logged)
	onPermanent func(error)
}

func newHealth(dataset string, log *slog.Logger, waiting func() int) *health {
	now := time.Now()
	return &health{dataset: dataset, log: log, waiting: waiting, total: map[string]int64{}, window: map[string]int64{},
		lastAgg: now, cur: SinkHealth{State: SinkConnecting, Since: now}}
}

func (h *health) setOnPermanent(f func(error)) {
	h.mu.Lock()
	h.onPermanent = f
	h.mu.Unlock()
}

// Snapshot returns the current state.
func (h *health) Snapshot() SinkHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.cur
	s.Errors = make(map[string]int64, len(ErrorClasses))
	for _, c := range ErrorClasses {
		s.Errors[c] = h.total[c]
	}
	return s
}

// observe records the outcome of one call to the service that carried rows rows (0 for the
// calls that resolve the dataset).
func (h *health) observe(rows int, err error) {
	if err != nil && sink.IsShutdown(err) {
		return // cancelled by shutdown: no answer from the service
	}
	class := errorClass(err)
	h.mu.Lock()
	defer h.mu.Unlock()
	if class != "" {
		h.count(class, 1)
	}
	if class == ErrRejected && rows == 1 {
		h.count(ErrDeadLettered, 1)
	}
	if h.cur.State == SinkParked {
		return // only a revive leaves the parked state
	}
	switch class {
	case "":
		h.cur.LastSuccess = time.Now()
		h.up()
	case ErrRejected:
		h.up() // the service answered
	case ErrThrottled:
	case ErrAuth:
		if refusedCredentials(err) {
			h.down(SinkAuthFailed, err, true)
		} else {
			h.down(SinkFailing, err, false)
		}
	case ErrFatal:
		// The dispatcher or the preparation parks the dataset with this error.
	default:
		h.down(SinkFailing, err, false)
	}
}

func (h *health) count(class string, n int64) {
	h.total[class] += n
	h.window[class] += n
}

// up moves to SinkUp; a recovery after an outage is logged at INFO. Caller holds mu.
func (h *health) up() {
	if h.cur.State == SinkUp {
		return
	}
	now := time.Now()
	prev := h.cur
	h.cur = SinkHealth{State: SinkUp, Since: now, LastSuccess: prev.LastSuccess}
	if h.hadOutage {
		h.log.Info("Power BI recovered", "dataset", h.dataset, "outage", now.Sub(prev.Down).Round(time.Millisecond).String(),
			"rows_waiting", h.waiting(), "was", string(prev.State))
	} else {
		h.log.Info("Power BI dataset ready", "dataset", h.dataset)
	}
	h.hadOutage = false
}

// down moves to a failing state; each transition is logged once. Caller holds mu.
func (h *health) down(state SinkState, err error, permanent bool) {
	now := time.Now()
	reason := err.Error()
	if h.cur.State == state {
		h.cur.Reason, h.cur.Permanent = reason, permanent
		return
	}
	downSince := h.cur.Down
	if downSince.IsZero() {
		downSince = now
	}
	h.cur = SinkHealth{State: state, Reason: reason, Since: now, Down: downSince, LastSuccess: h.cur.LastSuccess, Permanent: permanent}
	h.hadOutage, h.lastRemind = true, now
	waiting := h.waiting()
	switch state {
	case SinkAuthFailed:
		attrs := []any{"dataset", h.dataset, "reason", reason, "rows_waiting", waiting,
			"action", "rows keep spooling; retried with backoff; fix the credentials or the principal's access"}
		var ae *auth.Error
		if errors.As(err, &ae) {
			attrs = append(attrs, "aadsts", ae.AADSTS(), "entra_id", "cannot heal by itself")
		}
		h.log.Error("Power BI authentication failed", attrs...)
	case SinkParked:
		h.log.Error("dataset parked", "dataset", h.dataset, "reason", reason, "rows_waiting", waiting,
			"action", "rows stay spooled; other datasets keep flowing; fix the cause and send SIGHUP to retry")
	default:
		h.log.Warn("Power BI failing", "dataset", h.dataset, "reason", reason, "rows_waiting", waiting,
			"action", "rows keep spooling; retried with backoff")
	}
	if permanent && h.onPermanent != nil {
		h.onPermanent(err)
	}
}

// park records a permanent answer: the dataset stops until revive.
func (h *health) park(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down(SinkParked, err, true)
}

// revive leaves the parked state (SIGHUP): the dataset is resolved again.
func (h *health) revive() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cur.State != SinkParked {
		return false
	}
	h.log.Info("dataset revived: resolving it again", "dataset", h.dataset)
	h.cur.State, h.cur.Since, h.cur.Permanent = SinkConnecting, time.Now(), false
	return true
}

// tick logs the aggregated error counts and the reminder of a continuing outage when due.
func (h *health) tick(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if now.Sub(h.lastAgg) >= aggregateEvery {
		h.logAggregate(now)
	}
	if h.cur.State != SinkUp && h.cur.State != SinkConnecting && now.Sub(h.lastRemind) >= reminderEvery {
		h.lastRemind = now
		h.log.Warn("Power BI still failing", "dataset", h.dataset, "state", string(h.cur.State), "reason", h.cur.Reason,
			"outage", now.Sub(h.cur.Down).Round(time.Second).String(), "rows_waiting", h.waiting())
	}
}

// logAggregate logs the window's counts (when any) and starts a new window: WARN when rows were
// dead-lettered (they will not reach Power BI), else INFO. Caller holds mu.
func (h *health) logAggregate(now time.Time) {
	attrs := []any{"dataset", h.dataset, "period", now.Sub(h.lastAgg).Round(time.Second).String()}
	some := false
	for _, k := range ErrorClasses {
		if v := h.window[k]; v > 0 {
			attrs = append(attrs, k, v)
			some = true
		}
	}
	level := slog.LevelInfo
	if h.window[ErrDeadLettered] > 0 {
		level = slog.LevelWarn
	}
	h.lastAgg, h.window = now, map[string]int64{}
	if some {
		h.log.Log(context.Background(), level, "Power BI errors", attrs...)
	}
}

// errorClass maps a sink error to its class ("" for success).
func errorClass(err error) string {
	if err == nil {
		return ""
	}
	if sink.IsAuth(err) {
		return ErrAuth
	}
	switch sink.Classify(err) {
	case sink.OK:
		return ""
	case sink.Throttled:
		return ErrThrottled
	case sink.Rejected:
		return ErrRejected
	case sink.Fatal:
		return ErrFatal
	}
	var e *sink.Error
	if errors.As(err, &e) && e.Status != 0 {
		return ErrServer
	}
	return ErrUnreachable
}

// refusedCredentials reports whether an auth failure is a refusal (the service refused a fresh
// token, or Entra ID refused the credentials for good) rather than an unreachable authority.
func refusedCredentials(err error) bool {
	var ae *auth.Error
	if errors.As(err, &ae) {
		return ae.Permanent()
	}
	var e *sink.Error
	return errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
}

// observedSender reports every POST's outcome to its dataset's health.
type observedSender struct {
	next interface {
		PostRows(ctx context.Context, dataset, table string, seq uint64, rows [][]byte) error
	}
	health func(dataset string) *health
}

func (s observedSender) PostRows(ctx context.Context, dataset, table string, seq uint64, rows [][]byte) error {
	err := s.next.PostRows(ctx, dataset, table, seq, rows)
	if h := s.health(dataset); h != nil {
		h.observe(len(rows), err)
	}
	return err
}
