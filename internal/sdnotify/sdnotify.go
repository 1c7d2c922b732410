// Package sdnotify speaks systemd's notify protocol (sd_notify(3)): READY=1, STOPPING=1,
// RELOADING=1, STATUS= and WATCHDOG=1 datagrams to $NOTIFY_SOCKET, and the watchdog interval from
// $WATCHDOG_USEC. Outside systemd (no NOTIFY_SOCKET) every call is a no-op.
package sdnotify

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Notifier sends state changes to systemd. The zero value (and a nil *Notifier) does nothing.
type Notifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration
}

// New returns a Notifier for the given environment lookup (os.LookupEnv in main).
func New(getenv func(string) (string, bool)) *Notifier {
	n := &Notifier{}
	sock, ok := getenv("NOTIFY_SOCKET")
	if !ok || sock == "" {
		return n
	}
	if strings.HasPrefix(sock, "@") { // abstract socket namespace
		sock = "\x00" + sock[1:]
	}
	n.addr = &net.UnixAddr{Name: sock, Net: "unixgram"}
	if us, ok := getenv("WATCHDOG_USEC"); ok {
		if v, err := strconv.ParseInt(us, 10, 64); err == nil && v > 0 {
			n.watchdog = time.Duration(v) * time.Microsecond
		}
	}
	return n
}

// Enabled reports whether a notify socket is configured.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// WatchdogInterval is how often WATCHDOG=1 should be sent (half of WatchdogSec), 0 if off.
func (n *Notifier) WatchdogInterval() time.Duration {
	if n == nil {
		return 0
	}
	return n.watchdog / 2
}

// Send sends one or more "KEY=value" assignments in a single datagram.
func (n *Notifier) Send(state ...string) error {
	if !n.Enabled() {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify dial: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(state, "\n"))); err != nil {
		return fmt.Errorf("sd_notify write: %w", err)
	}
	return nil
}

// Ready tells systemd start-up finished.
func (n *Notifier) Ready(status string) error { return n.Send("READY=1", "STATUS="+status) }

// Stopping tells systemd shutdown began.
func (n *Notifier) Stopping() error { return n.Send("STOPPING=1", "STATUS=stopping") }

// Reloading tells systemd a reload began (send Ready again when it is done).
func (n *Notifier) Reloading() error {
	return n.Send("RELOADING=1", "MONOTONIC_USEC="+strconv.FormatInt(monotonicUsec(), 10))
}

// Watchdog pings the watchdog.
func (n *Notifier) Watchdog() error { return n.Send("WATCHDOG=1") }
