package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/byoda-go/byoda/internal/objstore"
)

// compactRetryAfter is how long automatic compaction waits after a failure
// (usually an unavailable object store) before it tries again.
const compactRetryAfter = 30 * time.Second

// maybeCompact starts a compaction in the background when the log since the
// last snapshot has grown past the thresholds.
func (s *Store) maybeCompact() {
	if s.opts.CompactSegments < 0 {
		return
	}
	s.mu.RLock()
	segs, walBytes, snapBytes := s.seq-s.snapSeq, s.walBytes, s.snapBytes
	s.mu.RUnlock()
	if segs < uint64(s.opts.CompactSegments) && walBytes < max(s.opts.CompactBytes, snapBytes) {
		return
	}
	if last := s.compactFailedAt.Load(); last != 0 && time.Since(time.Unix(0, last)) < compactRetryAfter {
		return
	}
	if !s.compacting.CompareAndSwap(false, true) {
		return
	}
	s.bg.Go(func() {
		defer s.compacting.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if err := s.Compact(ctx); err != nil {
			s.compactFailedAt.Store(time.Now().UnixNano())
			s.log.Error("Compaction failed; the log keeps growing until a later one succeeds", "prefix", s.layout.prefix, "err", err)
		}
	})
}

// Compact writes a snapshot of all data as of the last log segment and then
// deletes what the snapshot makes redundant: older segments (but not
// claims), older snapshots and chunks of snapshots that never completed.
// The snapshot's manifest is written last, so a crash at any point leaves
// either the old snapshot and the log, or the new snapshot, to restore
// from. Expired records of cache_only classes are left out: this is where
// they leave storage. The store compacts by itself as the log grows.
func (s *Store) Compact(ctx context.Context) error {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	var nonceBytes [8]byte
	rand.Read(nonceBytes[:])
	m := &manifest{nonce: binary.LittleEndian.Uint64(nonceBytes[:]), nextIDs: map[string]uint64{}}

	s.mu.RLock()
	m.seq = s.seq
	if m.seq == s.snapSeq {
		s.mu.RUnlock()
		return nil
	}
	plains := s.encodeChunks(m)
	walBytes := s.walBytes
	s.mu.RUnlock()

	m.chunks = make([]chunkRef, len(plains))
	errs := make([]error, len(plains))
	parallel(len(plains), uploadWorkers, func(i int) {
		tok, err := s.sealer.seal(plains[i])
		plains[i] = nil
		if err == nil {
			err = s.objects.Put(ctx, s.layout.chunk(m.seq, m.nonce, i), tok)
		}
		if err != nil {
			errs[i] = fmt.Errorf("%w: write snapshot chunk: %w", ErrUnavailable, err)
			return
		}
		m.chunks[i] = chunkRef{size: int64(len(tok)), hash: sha256.Sum256(tok)}
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("compact: %w", err)
	}

	e := header(objManifest, m.seq)
	m.encode(e)
	tok, err := s.sealer.seal(e.buf)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	name := s.layout.manifest(m.seq)
	switch err := s.objects.Create(ctx, name, tok); {
	case errors.Is(err, objstore.ErrExist):
		// Another writer snapshotted the same position; ours is not
		// needed. Its cleanup removes our chunks.
		return nil
	case err != nil:
		return fmt.Errorf("compact: %w: write snapshot manifest: %w", ErrUnavailable, err)
	}

	var size int64
	for _, c := range m.chunks {
		size += c.size
	}
	s.mu.Lock()
	s.snapSeq, s.snapBytes = m.seq, size
	s.walBytes -= walBytes
	s.mu.Unlock()
	if err := s.cleanup(ctx, m); err != nil {
		return fmt.Errorf("compact: snapshot %s is written; remove what it replaces: %w", name, err)
	}
	return nil
}

// encodeChunks returns the plaintexts of the snapshot chunks and fills in
// the manifest's ids and claims. It runs under s.mu held for reading.
func (s *Store) encodeChunks(m *manifest) [][]byte {
	now := s.now().UnixNano()
	var chunks [][]byte
	w := &bodyWriter{}
	flush := func(force bool) {
		if w.n == 0 || (!force && w.ops.len() < s.opts.ChunkSize) {
			return
		}
		e := header(objChunk, m.seq)
		e.fixed64(m.nonce)
		e.uvarint(uint64(len(chunks)))
		w.finish(e)
		chunks = append(chunks, e.buf)
		w = &bodyWriter{}
	}
	for _, name := range slices.Sorted(maps.Keys(s.tables)) {
		t := s.tables[name]
		m.nextIDs[name] = t.nextID
		for slot := range t.ids {
			if t.isLive(slot, now) {
				w.putSlot(t, slot)
				m.records++
				flush(false)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.orphans)) {
		or := s.orphans[name]
		m.nextIDs[name] = or.nextID
		for _, id := range slices.Sorted(maps.Keys(or.rows)) {
			w.add(&op{kind: opPut, class: name, row: or.rows[id]})
			m.records++
			flush(false)
		}
	}
	flush(true)
	for seq := range s.claims {
		if seq <= m.seq {
			m.claims = append(m.claims, seq)
		}
	}
	slices.Sort(m.claims)
	return chunks
}

// putSlot encodes the record at slot of t as a put, straight from the
// table's columns.
func (w *bodyWriter) putSlot(t *table, slot int) {
	ci := w.dict.class(t.name, t.fields)
	e := &w.ops
	w.n++
	id := t.ids[slot]
	e.byte(byte(opPut))
	e.uvarint(uint64(ci))
	e.uvarint(id)
	var exp int64
	if t.exp != nil {
		exp = t.exp[slot]
	}
	e.varint(exp)
	extra := t.extra[id]
	n := len(extra)
	for pos := range t.cols {
		if t.cols[pos].set.has(slot) {
			n++
		}
	}
	e.uvarint(uint64(n))
	for pos := range t.cols {
		if v := t.cols[pos].get(slot); v.k != kNone {
			e.uvarint(uint64(pos))
			v.encode(e)
		}
	}
	for _, x := range extra {
		e.uvarint(uint64(w.dict.field(ci, x.name)))
		x.v.encode(e)
	}
}

// cleanup deletes what snapshot m makes redundant. Only objects at or below
// m's position go: a newer writer may be writing beyond it.
func (s *Store) cleanup(ctx context.Context, m *manifest) error {
	claims := map[uint64]bool{}
	for _, c := range m.claims {
		claims[c] = true
	}
	var doomed []string
	segs, err := s.objects.List(ctx, s.layout.prefix+segmentDir)
	if err != nil {
		return err
	}
	for _, name := range segs {
		if seq, ok := s.layout.parseSeq(segmentDir, name); ok && seq <= m.seq && !claims[seq] {
			doomed = append(doomed, name)
		}
	}
	if err := s.deleteAll(ctx, doomed); err != nil {
		return err
	}
	// Old manifests before their chunks, so that no manifest ever names a
	// missing chunk.
	doomed = doomed[:0]
	mans, err := s.objects.List(ctx, s.layout.prefix+manifestDir)
	if err != nil {
		return err
	}
	for _, name := range mans {
		if seq, ok := s.layout.parseSeq(manifestDir, name); ok && seq < m.seq {
			doomed = append(doomed, name)
		}
	}
	if err := s.deleteAll(ctx, doomed); err != nil {
		return err
	}
	doomed = doomed[:0]
	chunks, err := s.objects.List(ctx, s.layout.prefix+chunkDir)
	if err != nil {
		return err
	}
	for _, name := range chunks {
		if seq, nonce, ok := s.layout.parseChunk(name); ok && (seq < m.seq || seq == m.seq && nonce != m.nonce) {
			doomed = append(doomed, name)
		}
	}
	return s.deleteAll(ctx, doomed)
}

func (s *Store) deleteAll(ctx context.Context, names []string) error {
	var mu sync.Mutex
	var first error
	parallel(len(names), fetchWorkers, func(i int) {
		if err := s.objects.Delete(ctx, names[i]); err != nil {
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
		}
	})
	return first
}
