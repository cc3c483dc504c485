package bolt

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"go.etcd.io/bbolt"
)

// boltLogger passes bbolt's messages to the store's slog.Logger. bbolt logs
// each transaction at debug level and its open and close at info level, which
// are debug detail for a server, so both go out at debug; warnings and errors
// (a failed commit, sync or mmap) keep their level. A message is formatted
// only when its level is enabled: bbolt logs twice per transaction.
type boltLogger struct{ log *slog.Logger }

var _ bbolt.Logger = boltLogger{}

func (l boltLogger) print(level slog.Level, v []any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, "bbolt: "+fmt.Sprint(v...))
	}
}

func (l boltLogger) printf(level slog.Level, format string, v []any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, "bbolt: "+fmt.Sprintf(format, v...))
	}
}

func (l boltLogger) Debug(v ...any)                   { l.print(slog.LevelDebug, v) }
func (l boltLogger) Debugf(format string, v ...any)   { l.printf(slog.LevelDebug, format, v) }
func (l boltLogger) Info(v ...any)                    { l.print(slog.LevelDebug, v) }
func (l boltLogger) Infof(format string, v ...any)    { l.printf(slog.LevelDebug, format, v) }
func (l boltLogger) Warning(v ...any)                 { l.print(slog.LevelWarn, v) }
func (l boltLogger) Warningf(format string, v ...any) { l.printf(slog.LevelWarn, format, v) }
func (l boltLogger) Error(v ...any)                   { l.print(slog.LevelError, v) }
func (l boltLogger) Errorf(format string, v ...any)   { l.printf(slog.LevelError, format, v) }

// Fatal and Panic are part of bbolt's interface, but bbolt never calls them;
// they do what their names say, as bbolt's default logger does.
func (l boltLogger) Fatal(v ...any) { l.Error(v...); os.Exit(1) }
func (l boltLogger) Fatalf(format string, v ...any) {
	l.Errorf(format, v...)
	os.Exit(1)
}
func (l boltLogger) Panic(v ...any) { l.Error(v...); panic(fmt.Sprint(v...)) }
func (l boltLogger) Panicf(format string, v ...any) {
	l.Errorf(format, v...)
	panic(fmt.Sprintf(format, v...))
}
