package auth

import (
	"io"
	"log/slog"
	"os"
	"time"
)

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Prompt == nil {
		o.Prompt = os.Stderr
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}
