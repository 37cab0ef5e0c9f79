package cli

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/go-logr/logr"

	"github.com/byoda-go/byoda/internal/requestid"
)

// newSlogLogger returns the log of every byoda command: JSON on stderr at
// level, with the request id of a record logged for a request. It is the
// one logger constructor of the binary; newLogger bridges it for
// controller-runtime.
func newSlogLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(requestid.LogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))), nil
}

// newLogger is newSlogLogger as a logr.Logger, which controller-runtime
// and client-go take.
func newLogger(level string) (logr.Logger, error) {
	log, err := newSlogLogger(level)
	if err != nil {
		return logr.Logger{}, err
	}
	return logr.FromSlogHandler(log.Handler()), nil
}
