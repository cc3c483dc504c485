package bolt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"

	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"
)

// openChecked opens the bbolt file at path and checks that it is whole before
// anything else reads it.
//
// bbolt validates only the two meta pages at open; on a file damaged past them
// it panics (failed assertions) or faults on memory beyond the end of a
// truncated file, at open or at any later read, taking the server down with a
// stack trace that names neither the file nor the problem. And it silently
// initialises a 0-byte file as a new, empty store, which hides a lost feed.
// So Open refuses an empty file, and first opens an existing one read-only to
// compare its length with its header and read every page of every bucket once,
// with panics and faults turned into errors: damage shows up here, with the
// path and what to do, rather than under load. The walk costs one pass over the
// file at start (see BenchmarkOpen). Only then is the file opened for writing.
func openChecked(path string, opts Options) (*bbolt.DB, error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// bbolt creates it.
	case err != nil:
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	case info.Size() == 0:
		return nil, fmt.Errorf("store: %s is empty (0 bytes), so it is not a store file: a store is never empty once created. "+
			"Restore it from a backup, or delete it to start an empty store", path)
	case info.Size() < newFileSize:
		return nil, damaged(path, fmt.Errorf("only %d bytes long; a new store file has %d", info.Size(), newFileSize))
	default:
		if err := checkFile(path, opts); err != nil {
			return nil, err
		}
	}
	// bbolt's defaults fsync every commit (NoSync false): an acknowledged post
	// survives a crash or kill -9. Do not turn that off.
	var bdb *bbolt.DB
	err = withoutPanics(func() error {
		var err error
		bdb, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.LockTimeout, Logger: boltLogger{opts.Log}})
		return err
	})
	if err != nil {
		// After a panic, bbolt never returned its DB and keeps the file locked
		// until the process exits; checkFile makes that unlikely (it cannot see
		// a damaged freelist page, which bbolt reads here).
		return nil, openError(path, err)
	}
	return bdb, nil
}

// checkFile opens the existing file at path read-only and reads all of it
// (see openChecked).
func checkFile(path string, opts Options) error {
	var bdb *bbolt.DB
	err := withoutPanics(func() error {
		var err error
		bdb, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.LockTimeout, Logger: boltLogger{opts.Log}, ReadOnly: true})
		if err != nil {
			return err
		}
		return readEveryPage(bdb)
	})
	if bdb != nil {
		if closeErr := withoutPanics(bdb.Close); err == nil && closeErr != nil {
			return fmt.Errorf("store: check %s: %w", path, closeErr)
		}
	}
	if err != nil {
		return openError(path, err)
	}
	return nil
}

func openError(path string, err error) error {
	var panicked *bboltPanic
	switch {
	case errors.Is(err, bberrors.ErrTimeout):
		return fmt.Errorf("store: open %s: another process holds it (is another server using the same data folder?): %w", path, err)
	case errors.As(err, &panicked), errors.Is(err, errTruncated),
		errors.Is(err, bberrors.ErrInvalid), errors.Is(err, bberrors.ErrChecksum), errors.Is(err, bberrors.ErrVersionMismatch):
		return damaged(path, err)
	default:
		return fmt.Errorf("store: open %s: %w", path, err)
	}
}

// newFileSize is the size of a store file bbolt has just created: two meta
// pages, a freelist page and an empty root page, at the OS page size (which
// bbolt uses unless told otherwise, and Open does not tell it otherwise).
var newFileSize = 4 * int64(os.Getpagesize())

func damaged(path string, err error) error {
	return fmt.Errorf("store: %s is damaged or not a store file (%w). "+
		"Restore it from a backup, or move it away to start an empty store", path, err)
}

var errTruncated = errors.New("truncated")

// readEveryPage checks that the file is as long as its meta page says and
// walks every bucket, nested ones too, down to every key: bbolt checks each
// page it reads for the id it expects.
func readEveryPage(bdb *bbolt.DB) error {
	return bdb.View(func(tx *bbolt.Tx) error {
		info, err := os.Stat(bdb.Path())
		if err != nil {
			return err
		}
		if tx.Size() > info.Size() {
			return fmt.Errorf("%w: %d bytes long, its header says %d", errTruncated, info.Size(), tx.Size())
		}
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			if err := withoutPanics(func() error { return walkBucket(b) }); err != nil {
				return fmt.Errorf("bucket %q: %w", name, err)
			}
			return nil
		})
	})
}

func walkBucket(b *bbolt.Bucket) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v != nil {
			continue
		}
		nested := b.Bucket(k)
		if nested == nil {
			return fmt.Errorf("key %q is neither a value nor a bucket", k)
		}
		if err := walkBucket(nested); err != nil {
			return fmt.Errorf("bucket %q: %w", k, err)
		}
	}
	return nil
}

// bboltPanic is a panic (or a memory fault) raised inside bbolt.
type bboltPanic struct{ value any }

func (p *bboltPanic) Error() string { return fmt.Sprint("bbolt failed reading it: ", p.value) }

// withoutPanics runs fn, turning a panic, or a fault on the memory-mapped
// file (SIGBUS or SIGSEGV past the end of a truncated file), into an error.
func withoutPanics(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &bboltPanic{value: r}
		}
	}()
	return fn()
}
