package progress

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// line is the terminal line for the last snapshot.
func (d *Display) line() string {
	s := d.last
	var b strings.Builder
	// Records an earlier run spooled count as read: a resumed run starts where it stopped.
	b.WriteString("read " + group(s.Read+s.Resumed))
	if d.total > 0 {
		done := min(100, (s.Read+s.Resumed)*100/d.total)
		b.WriteString("/" + group(d.total) + " (" + strconv.FormatInt(done, 10) + "%")
		if s.Resumed > 0 {
			b.WriteString(", " + group(s.Resumed) + " resumed")
		}
		b.WriteString(")")
	} else if s.Resumed > 0 {
		b.WriteString(" (" + group(s.Resumed) + " resumed)")
	}
	b.WriteString("  delivered " + group(s.Delivered))
	if s.Rejected > 0 {
		b.WriteString("  rejected " + group(s.Rejected))
	}
	b.WriteString("  backlog " + group(int64(s.Backlog)))
	if s.Waiting != "" {
		// No rate or ETA while nothing can be delivered: the reason, before the width cuts it.
		b.WriteString("  waiting for Power BI: " + s.Waiting)
		return b.String()
	}
	b.WriteString("  " + group(int64(d.rate+0.5)) + " rows/s")
	e := d.eta()
	b.WriteString("  ETA " + e.text())
	if e.known && e.bound != "" {
		b.WriteString(" (" + e.bound + ")")
	}
	return b.String()
}

// group formats n with thousands separators: 10,000,000.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// truncate cuts s to width-1 columns so the cursor never wraps (0 = no limit).
func truncate(s string, width int) string {
	if width <= 1 || utf8.RuneCountInString(s) < width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1])
}
