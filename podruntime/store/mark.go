package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The high-water mark is the newest log segment a store knows to be durable
// in its object store, kept in a small file on local disk
// (Options.MarkFile). The object store alone cannot tell a log whose newest
// segments were deleted (or that was restored from an older backup) from a
// shorter log; the mark can, as long as the file survives.
//
// The mark only ever names a segment that is durable: it is read from the
// store's position, which advances only once a segment's Create has
// succeeded (or the segment was read back from the object store). It is
// written in the background, at most once per markInterval, so a commit
// never waits for the local disk; Open and Close write it before they
// return. After a crash it may therefore lag the log by the segments of
// the last markInterval (and one file write): a rollback of only those goes
// unnoticed. After a clean Close it is exact.

// markInterval is the least time between two background writes of the
// mark.
const markInterval = 100 * time.Millisecond

// markHeader is the first line of a mark file.
const markHeader = "byoda store high-water mark v1"

// maxMarkBytes bounds what Open reads of a mark file; a valid one is a few
// dozen bytes.
const maxMarkBytes = 4 << 10

// staleMarkTempAge is how old a temporary mark file must be before Open
// removes it as the leftover of a crash.
const staleMarkTempAge = time.Hour

// RollbackError reports a log in the object store that ends before the
// store's high-water mark. It matches ErrRolledBack. Open refuses such a
// store unless Options.AcceptRollback is set.
type RollbackError struct {
	// Prefix is the store's key prefix in the object store.
	Prefix string
	// MarkFile is the file that holds the mark.
	MarkFile string
	// Mark is the newest segment the store had seen durable.
	Mark uint64
	// Found is the newest segment the object store holds now (the last
	// one a snapshot and the log after it reach); 0 if it holds no log.
	Found uint64
}

// Error says what is missing and how to go on.
func (e *RollbackError) Error() string {
	first, last := e.Missing()
	found := fmt.Sprintf("the log in the object store ends at segment %d", e.Found)
	if e.Found == 0 {
		found = fmt.Sprintf("the object store holds no log under %s", e.Prefix)
	}
	missing := fmt.Sprintf("segments %d to %d (%s to %s, or a snapshot covering them) were", e.Found+1, e.Mark, first, last)
	if first == last {
		missing = fmt.Sprintf("segment %d (%s) was", e.Mark, last)
	}
	return fmt.Sprintf("%v: %s, but segment %d was durable before (high-water mark in %s): "+
		"%s deleted, or the object store was restored from an older backup; "+
		"restore them from a backup, or accept the older log on purpose (AcceptRollback, which also resets the mark)",
		ErrRolledBack, found, e.Mark, e.MarkFile, missing)
}

// Missing returns the object names of the first and the last log segment
// the object store lacks, for a message saying what to restore.
func (e *RollbackError) Missing() (first, last string) {
	l := layout{prefix: e.Prefix}
	return l.segment(e.Found + 1), l.segment(e.Mark)
}

// Unwrap makes the error match ErrRolledBack.
func (e *RollbackError) Unwrap() error { return ErrRolledBack }

// readMark returns the mark in file for the store under prefix: 0 if there
// is no file, or if it is the mark of a store under another prefix (a new
// membership), which the store's own mark then replaces.
func readMark(file, prefix string, log *slog.Logger) (uint64, error) {
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read high-water mark: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMarkBytes+1))
	if err != nil {
		return 0, fmt.Errorf("read high-water mark: %w", err)
	}
	markPrefix, seq, err := parseMark(data)
	if err != nil {
		return 0, fmt.Errorf("high-water mark %s is unreadable (%v): it is written only by the store; "+
			"if it was damaged, accept the object store's log as it is (AcceptRollback), which rewrites it", file, err)
	}
	if markPrefix != prefix {
		log.Info("High-water mark file belongs to another store; replacing it", "file", file, "markPrefix", markPrefix, "prefix", prefix)
		return 0, nil
	}
	return seq, nil
}

// parseMark reads a mark file:
//
//	byoda store high-water mark v1
//	prefix <store prefix>
//	seq <segment>
func parseMark(data []byte) (prefix string, seq uint64, err error) {
	if len(data) > maxMarkBytes {
		return "", 0, fmt.Errorf("longer than %d bytes", maxMarkBytes)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 3 || lines[0] != markHeader {
		return "", 0, errors.New("not a high-water mark file")
	}
	prefix, ok1 := strings.CutPrefix(lines[1], "prefix ")
	num, ok2 := strings.CutPrefix(lines[2], "seq ")
	if !ok1 || !ok2 || prefix == "" {
		return "", 0, errors.New("malformed")
	}
	seq, err = strconv.ParseUint(num, 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("sequence number: %w", err)
	}
	return prefix, seq, nil
}

// marker keeps a store's mark file up to date.
type marker struct {
	file    string
	prefix  string
	log     *slog.Logger
	current func() uint64 // the store's durable position

	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex // serialises writes
	written uint64
	failing bool
}

func newMarker(file, prefix string, log *slog.Logger, current func() uint64) *marker {
	return &marker{
		file: file, prefix: prefix, log: log, current: current,
		kick: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
}

// prepare creates the mark's directory and removes temporary files a
// crash left there.
func (m *marker) prepare() error {
	dir := filepath.Dir(m.file)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("high-water mark directory: %w", err)
	}
	temps, _ := filepath.Glob(filepath.Join(dir, "."+filepath.Base(m.file)+".*.tmp"))
	for _, t := range temps {
		if fi, err := os.Stat(t); err == nil && time.Since(fi.ModTime()) > staleMarkTempAge {
			os.Remove(t)
		}
	}
	return nil
}

// notify tells the marker the store's position has advanced. It never
// blocks: a commit does not wait for the local disk.
func (m *marker) notify() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// run writes the mark in the background when the position advances, at
// most once per markInterval.
func (m *marker) run() {
	defer close(m.done)
	throttle := time.NewTimer(0)
	defer throttle.Stop()
	for {
		select {
		case <-m.kick:
		case <-m.stop:
			return
		}
		if err := m.update(); err != nil {
			m.mu.Lock()
			first := !m.failing
			m.failing = true
			m.mu.Unlock()
			if first {
				m.log.Error("Writing the high-water mark failed; a rollback of the log after the last mark written goes unnoticed until it works again",
					"file", m.file, "err", err)
			}
		} else {
			m.mu.Lock()
			recovered := m.failing
			m.failing = false
			m.mu.Unlock()
			if recovered {
				m.log.Info("Wrote the high-water mark again", "file", m.file)
			}
		}
		throttle.Reset(markInterval)
		select {
		case <-throttle.C:
		case <-m.stop:
			return
		}
	}
}

// update writes the store's position if it is past the mark written.
func (m *marker) update() error {
	seq := m.current()
	m.mu.Lock()
	defer m.mu.Unlock()
	if seq <= m.written {
		return nil
	}
	return m.writeLocked(seq)
}

// set writes seq as the mark, even if it is lower than the last one (a
// rollback that was accepted).
func (m *marker) set(seq uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writeLocked(seq)
}

// close stops the background writer and writes the final position.
func (m *marker) close() error {
	close(m.stop)
	<-m.done
	return m.update()
}

// writeLocked replaces the mark file atomically: a temporary file in the
// same directory, synced, renamed over it, and the directory synced. A
// reader sees the old mark or the new one, never a torn file.
func (m *marker) writeLocked(seq uint64) error {
	dir := filepath.Dir(m.file)
	f, err := os.CreateTemp(dir, "."+filepath.Base(m.file)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write high-water mark: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // gone after the rename; cleans up after a failure
	_, err = fmt.Fprintf(f, "%s\nprefix %s\nseq %d\n", markHeader, m.prefix, seq)
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp, m.file)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("write high-water mark %s: %w", m.file, err)
	}
	m.written = seq
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
