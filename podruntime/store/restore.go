package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"sync"

	"github.com/byoda-go/byoda/internal/objstore"
)

// movedError means the log changed while it was being read: a compaction
// removed a segment or snapshot that had just been listed, or another
// writer claimed the next segment first. Open starts over; if it keeps
// happening the last error is returned.
type movedError struct{ err error }

func (e *movedError) Error() string { return e.err.Error() }
func (e *movedError) Unwrap() error { return e.err }

var errMoved = &movedError{}

func (e *movedError) Is(target error) bool { return target == errMoved }

func moved(format string, args ...any) error {
	return &movedError{err: fmt.Errorf(format, args...)}
}

// Parallelism of restore and compaction: objects fetched or written at
// once.
const (
	fetchWorkers  = 8
	replayWindow  = 64
	uploadWorkers = 4
)

// load restores the data from the latest snapshot and the log segments
// after it.
func (s *Store) load(ctx context.Context) error {
	s.reset()
	names, err := s.objects.List(ctx, s.layout.prefix+manifestDir)
	if err != nil {
		return fmt.Errorf("%w: list snapshots: %w", ErrUnavailable, err)
	}
	var latest uint64
	for _, name := range names {
		if seq, ok := s.layout.parseSeq(manifestDir, name); ok {
			latest = max(latest, seq)
		}
	}
	if latest > 0 {
		if err := s.loadSnapshot(ctx, latest); err != nil {
			return err
		}
	}

	names, err = s.objects.List(ctx, s.layout.prefix+segmentDir)
	if err != nil {
		return fmt.Errorf("%w: list log segments: %w", ErrUnavailable, err)
	}
	var seqs []uint64
	for _, name := range names {
		if seq, ok := s.layout.parseSeq(segmentDir, name); ok && seq > s.seq {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	for i, seq := range seqs {
		if want := s.seq + 1 + uint64(i); seq != want {
			return moved("%w: log segment %s is missing (the next one found is %s)", ErrCorrupt, s.layout.segment(want), s.layout.segment(seq))
		}
	}
	return s.replay(ctx, seqs)
}

type fetched struct {
	ops  []op
	size int64
	err  error
}

// replay applies log segments in order, fetching and decrypting a window of
// them at a time in parallel.
func (s *Store) replay(ctx context.Context, seqs []uint64) error {
	for start := 0; start < len(seqs); start += replayWindow {
		part := seqs[start:min(start+replayWindow, len(seqs))]
		results := make([]fetched, len(part))
		parallel(len(part), fetchWorkers, func(i int) {
			results[i] = s.fetchSegment(ctx, part[i])
		})
		for i, r := range results {
			if r.err != nil {
				return r.err
			}
			s.apply(part[i], r.ops, r.size, false)
		}
	}
	return nil
}

func (s *Store) fetchSegment(ctx context.Context, seq uint64) fetched {
	name := s.layout.segment(seq)
	tok, err := s.objects.Get(ctx, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fetched{err: moved("%w: log segment %s vanished while it was read", ErrCorrupt, name)}
	case err != nil:
		return fetched{err: fmt.Errorf("%w: read log segment: %w", ErrUnavailable, err)}
	}
	body, err := s.sealer.open(name, tok, objSegment, seq)
	if err != nil {
		return fetched{err: err}
	}
	ops, err := s.decodeSegment(name, body)
	return fetched{ops: ops, size: int64(len(tok)), err: err}
}

// manifest describes a snapshot: its chunks and what the log position
// needs besides the records.
type manifest struct {
	seq     uint64
	nonce   uint64
	chunks  []chunkRef
	nextIDs map[string]uint64
	claims  []uint64
	records uint64
}

type chunkRef struct {
	size int64
	hash [sha256.Size]byte
}

func (m *manifest) encode(e *encoder) {
	e.fixed64(m.nonce)
	e.uvarint(uint64(len(m.chunks)))
	for _, c := range m.chunks {
		e.uvarint(uint64(c.size))
		e.raw(c.hash[:])
	}
	names := slices.Sorted(maps.Keys(m.nextIDs))
	e.uvarint(uint64(len(names)))
	for _, n := range names {
		e.str(n)
		e.uvarint(m.nextIDs[n])
	}
	e.uvarint(uint64(len(m.claims)))
	for _, c := range m.claims {
		e.uvarint(c)
	}
	e.uvarint(m.records)
	e.byte(bodyEnd)
}

func decodeManifest(seq uint64, body []byte) (*manifest, error) {
	d := decoder{buf: body}
	m := &manifest{seq: seq, nonce: d.fixed64(), nextIDs: map[string]uint64{}}
	m.chunks = make([]chunkRef, d.count(1+sha256.Size))
	for i := range m.chunks {
		m.chunks[i].size = int64(d.uvarint())
		copy(m.chunks[i].hash[:], d.fixed(sha256.Size))
	}
	for n := d.count(2); n > 0 && d.err == nil; n-- {
		name := d.str()
		m.nextIDs[name] = d.uvarint()
	}
	m.claims = make([]uint64, d.count(1))
	for i := range m.claims {
		m.claims[i] = d.uvarint()
	}
	m.records = d.uvarint()
	if d.byte() != bodyEnd || !d.done() || d.err != nil {
		return nil, errMalformed
	}
	return m, nil
}

// loadSnapshot restores the snapshot covering segments up to seq.
func (s *Store) loadSnapshot(ctx context.Context, seq uint64) error {
	name := s.layout.manifest(seq)
	tok, err := s.objects.Get(ctx, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return moved("%w: snapshot manifest %s vanished while it was read", ErrCorrupt, name)
	case err != nil:
		return fmt.Errorf("%w: read snapshot manifest: %w", ErrUnavailable, err)
	}
	body, err := s.sealer.open(name, tok, objManifest, seq)
	if err != nil {
		return err
	}
	m, err := decodeManifest(seq, body)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)
	}

	const window = uploadWorkers
	for start := 0; start < len(m.chunks); start += window {
		n := min(window, len(m.chunks)-start)
		results := make([]fetched, n)
		parallel(n, n, func(i int) {
			results[i] = s.fetchChunk(ctx, m, start+i)
		})
		for _, r := range results {
			if r.err != nil {
				return r.err
			}
			s.applySnapshotOps(r.ops)
			s.snapBytes += r.size
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for cls, next := range m.nextIDs {
		if t := s.tables[cls]; t != nil {
			t.nextID = max(t.nextID, next)
		} else if or := s.orphans[cls]; or != nil {
			or.nextID = max(or.nextID, next)
		} else {
			s.orphans[cls] = &orphan{name: cls, rows: map[uint64]*row{}, nextID: next}
		}
	}
	for _, c := range m.claims {
		s.claims[c] = true
	}
	s.seq, s.snapSeq = seq, seq
	return nil
}

func (s *Store) fetchChunk(ctx context.Context, m *manifest, i int) fetched {
	name := s.layout.chunk(m.seq, m.nonce, i)
	tok, err := s.objects.Get(ctx, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fetched{err: moved("%w: snapshot chunk %s is missing", ErrCorrupt, name)}
	case err != nil:
		return fetched{err: fmt.Errorf("%w: read snapshot chunk: %w", ErrUnavailable, err)}
	}
	ref := m.chunks[i]
	if sum := sha256.Sum256(tok); int64(len(tok)) != ref.size || !bytes.Equal(sum[:], ref.hash[:]) {
		return fetched{err: fmt.Errorf("%w: %s does not match its snapshot manifest (%d bytes, want %d): altered, truncated or replaced", ErrCorrupt, name, len(tok), ref.size)}
	}
	body, err := s.sealer.open(name, tok, objChunk, m.seq)
	if err != nil {
		return fetched{err: err}
	}
	d := decoder{buf: body}
	nonce, idx := d.fixed64(), d.uvarint()
	if d.err != nil || nonce != m.nonce || idx != uint64(i) {
		return fetched{err: fmt.Errorf("%w: %s holds another chunk", ErrCorrupt, name)}
	}
	ops, err := s.decodeBody(&d)
	if err != nil {
		return fetched{err: fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)}
	}
	return fetched{ops: ops, size: int64(len(tok))}
}

func (s *Store) applySnapshotOps(ops []op) {
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.nextExpiry.Load()
	for i := range ops {
		o := &ops[i]
		switch {
		case o.kind != opPut:
		case o.t == nil:
			s.applyOrphan(o)
		default:
			o.t.put(o.row, now)
			if o.row.expires != 0 {
				next = min(next, o.row.expires)
			}
		}
	}
	s.nextExpiry.Store(next)
}

// claim writes a claim as the next log segment. From then on, any other
// writer on the prefix fails to write its next segment and is fenced,
// because that name is taken. Claims are never deleted, not even by
// compaction: a writer that has been idle since before the claim would
// otherwise find the name free again.
func (s *Store) claim(ctx context.Context) error {
	seq := s.seq + 1
	ops := []op{{kind: opClaim}}
	data, err := s.sealer.seal(s.encodeSegment(seq, ops))
	if err != nil {
		return err
	}
	name := s.layout.segment(seq)
	err = s.objects.Create(ctx, name, data)
	if errors.Is(err, objstore.ErrExist) {
		got, getErr := s.objects.Get(ctx, name)
		if getErr != nil || !bytes.Equal(got, data) {
			return moved("%w: another writer wrote log segment %s while the store was opening", ErrFenced, name)
		}
		err = nil
	}
	if err != nil {
		return fmt.Errorf("%w: claim the store: %w", ErrUnavailable, err)
	}
	s.apply(seq, ops, int64(len(data)), false)
	return nil
}

// parallel runs fn(0..n-1) on up to workers goroutines and waits.
func parallel(n, workers int, fn func(i int)) {
	if n == 1 {
		fn(0)
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
