package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync/atomic"

	"github.com/byoda-go/byoda/internal/objstore"
)

// Writes go through one committer goroutine (group commit). Callers convert
// and validate their records, queue a request and wait. The committer takes
// every queued request, plans their effect on the current data as a list of
// operations (whole records to put, ids to delete), writes the operations as
// the next log segment with Create, and only once that is durable applies
// them in memory and answers the callers. Requests that arrive while a
// segment is being written go into the next one.
//
// A failed write applies nothing. If its outcome is unknown (the object
// store timed out, and may have stored the segment after all), the segment
// is remembered as in doubt: the next write at that sequence number finds
// out, from the object store, whether it landed. If it did, it is applied
// before anything else, so memory always equals the replay of the log.

type reqKind uint8

const (
	reqAppend reqKind = iota + 1
	reqMutate
	reqUpdate
	reqDelete
)

// Request states: a caller whose context ends may withdraw a request only
// while it is still queued.
const (
	reqQueued int32 = iota
	reqTaken
	reqWithdrawn
)

type request struct {
	kind  reqKind
	t     *table
	rows  []*row       // reqAppend
	patch []patchEntry // reqMutate, reqUpdate
	conds []cond       // reqUpdate, reqDelete

	state atomic.Int32
	done  chan struct{}

	// results
	err     error
	n       int
	cursors []string
	record  any
}

// patchEntry sets (or, with an absent value, clears) the field at pos.
type patchEntry struct {
	pos int
	v   value
}

// pendingSegment is a segment whose write failed without a clear answer.
type pendingSegment struct {
	seq  uint64
	data []byte
	ops  []op
}

// errReplan asks the committer to plan its batch again, because a segment
// that was in doubt turned out to be stored and has been applied.
var errReplan = errors.New("replan")

func (s *Store) submit(ctx context.Context, r *request) error {
	r.done = make(chan struct{})
	s.qmu.Lock()
	if s.closing {
		s.qmu.Unlock()
		return ErrClosed
	}
	if err := s.writable(); err != nil {
		s.qmu.Unlock()
		return err
	}
	s.queue = append(s.queue, r)
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqWithdrawn) {
			return ctx.Err()
		}
		<-r.done // being written: the outcome is about to be known
		return r.err
	}
}

func (s *Store) commitLoop() {
	defer close(s.loopDone)
	for {
		s.qmu.Lock()
		for len(s.queue) == 0 && !s.closing {
			s.qmu.Unlock()
			<-s.wake
			s.qmu.Lock()
		}
		if len(s.queue) == 0 {
			s.qmu.Unlock()
			return
		}
		n, rows := 0, 0
		for n < len(s.queue) && (n == 0 || rows+len(s.queue[n].rows) <= maxBatchRows) {
			rows += len(s.queue[n].rows)
			n++
		}
		batch := make([]*request, 0, n)
		for _, r := range s.queue[:n] {
			if r.state.CompareAndSwap(reqQueued, reqTaken) {
				batch = append(batch, r)
			}
		}
		s.queue = append(s.queue[:0:0], s.queue[n:]...)
		s.qmu.Unlock()
		if len(batch) > 0 {
			s.commit(batch)
		}
	}
}

// commit makes one batch durable and applies it, or fails every request in
// it.
func (s *Store) commit(batch []*request) {
	fail := func(err error) {
		for _, r := range batch {
			r.err = err
			close(r.done)
		}
	}
	if err := s.writable(); err != nil {
		fail(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.WriteTimeout)
	defer cancel()
	if err := s.resolveInDoubt(ctx); err != nil {
		fail(err)
		return
	}
	// At most one pass replans: landed empties inDoubt.
	for {
		now := s.now().UnixNano()
		s.mu.RLock()
		p := s.plan(batch, now)
		s.mu.RUnlock()
		if len(p.ops) == 0 {
			break
		}
		seq := s.seq + 1
		data, err := s.sealer.seal(s.encodeSegment(seq, p.ops))
		if err == nil {
			err = s.writeSegment(ctx, seq, data)
		}
		if errors.Is(err, errReplan) {
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrFenced) && data != nil {
				s.inDoubt = append(s.inDoubt, pendingSegment{seq: seq, data: data, ops: p.ops})
			}
			fail(err)
			return
		}
		s.apply(seq, p.ops, int64(len(data)), true)
		break
	}
	for _, r := range batch {
		close(r.done)
	}
	if s.mark != nil {
		s.mark.notify() // never waits for the local disk
	}
	s.maybeCompact()
}

// writeSegment creates log segment seq. When the name is taken it finds out
// by whom: this very write (an earlier attempt succeeded), a segment of
// this store that was in doubt (apply it and replan), or another writer
// (fenced).
func (s *Store) writeSegment(ctx context.Context, seq uint64, data []byte) error {
	name := s.layout.segment(seq)
	err := s.objects.Create(ctx, name, data)
	if err == nil {
		s.inDoubt = nil
		return nil
	}
	if !errors.Is(err, objstore.ErrExist) {
		return fmt.Errorf("%w: write log segment: %w", ErrUnavailable, err)
	}
	got, err := s.objects.Get(ctx, name)
	if err != nil {
		return fmt.Errorf("%w: log segment %s exists; read it to see who wrote it: %w", ErrUnavailable, name, err)
	}
	if bytes.Equal(got, data) {
		s.inDoubt = nil
		return nil
	}
	if s.landed(seq, got) {
		return errReplan
	}
	return s.fence(fmt.Errorf("%w: log segment %s was written by another writer on the same prefix; this store refuses further writes (reopen it to continue from the other writer's data)", ErrFenced, name))
}

// landed applies the in-doubt segment of seq whose bytes are data, if there
// is one.
func (s *Store) landed(seq uint64, data []byte) bool {
	for _, p := range s.inDoubt {
		if p.seq == seq && bytes.Equal(p.data, data) {
			s.inDoubt = nil
			s.apply(seq, p.ops, int64(len(data)), true)
			return true
		}
	}
	return false
}

// resolveInDoubt checks, before a new batch is planned, whether a segment
// whose write failed was stored after all.
func (s *Store) resolveInDoubt(ctx context.Context) error {
	if len(s.inDoubt) == 0 {
		return nil
	}
	seq := s.seq + 1
	name := s.layout.segment(seq)
	got, err := s.objects.Get(ctx, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Not stored (yet): the next Create at seq settles it for good.
		if len(s.inDoubt) > 16 {
			s.inDoubt = s.inDoubt[len(s.inDoubt)-16:]
		}
		return nil
	case err != nil:
		return fmt.Errorf("%w: check log segment %s: %w", ErrUnavailable, name, err)
	}
	if s.landed(seq, got) {
		return nil
	}
	return s.fence(fmt.Errorf("%w: log segment %s was written by another writer on the same prefix; this store refuses further writes", ErrFenced, name))
}

// apply changes the data by the operations of segment seq, which is
// durable.
func (s *Store) apply(seq uint64, ops []op, size int64, notify bool) {
	now := s.now().UnixNano()
	s.mu.Lock()
	var watched *watchBatch
	if notify && s.nWatch.Load() > 0 {
		watched = s.watchBefore(ops)
	}
	next := s.nextExpiry.Load()
	for i := range ops {
		o := &ops[i]
		switch {
		case o.kind == opClaim:
			s.claims[seq] = true
		case o.t == nil:
			s.applyOrphan(o)
		case o.kind == opPut:
			o.t.put(o.row, now)
			if o.row.expires != 0 {
				next = min(next, o.row.expires)
			}
		case o.kind == opDelete:
			o.t.remove(o.id)
		}
	}
	s.nextExpiry.Store(next)
	s.seq = seq
	s.walBytes += size
	s.mu.Unlock()
	if watched != nil {
		s.notify(ops, watched)
	}
}

func (s *Store) applyOrphan(o *op) {
	or := s.orphans[o.class]
	if or == nil {
		or = &orphan{name: o.class, rows: map[uint64]*row{}, nextID: 1}
		s.orphans[o.class] = or
	}
	switch o.kind {
	case opPut:
		or.rows[o.row.id] = o.row
		or.nextID = max(or.nextID, o.row.id+1)
	case opDelete:
		delete(or.rows, o.id)
	}
}

// planner works out what a batch of requests does to the data, without
// changing it: changed and new records live in an overlay until the batch
// is durable.
type planner struct {
	now    int64
	over   map[*table]map[uint64]*row // nil: deleted in this batch
	added  map[*table][]uint64        // ids added in this batch, in order
	nextID map[*table]uint64
	ops    []op
}

// plan runs under s.mu held for reading.
func (s *Store) plan(batch []*request, now int64) *planner {
	p := &planner{
		now:    now,
		over:   map[*table]map[uint64]*row{},
		added:  map[*table][]uint64{},
		nextID: map[*table]uint64{},
	}
	for _, r := range batch {
		r.err, r.n, r.cursors, r.record = nil, 0, nil, nil
		t := r.t
		if p.over[t] == nil {
			p.over[t] = map[uint64]*row{}
			p.nextID[t] = t.nextID
		}
		switch r.kind {
		case reqAppend:
			r.cursors = make([]string, len(r.rows))
			for i, in := range r.rows {
				nr := in.clone()
				nr.id = p.newID(t)
				nr.expires = t.expiresAt(now)
				p.put(t, nr, true)
				r.cursors[i] = encodeCursor(nr.id)
			}
			r.n = len(r.rows)
		case reqMutate:
			var cur *row
			p.each(t, nil, func(r *row) {
				if cur == nil {
					cur = r
				}
			})
			fresh := cur == nil
			var nr *row
			if fresh {
				nr = &row{id: p.newID(t), vals: make([]value, len(t.fields)), expires: t.expiresAt(now)}
			} else {
				nr = cur.clone()
			}
			nr.patch(r.patch)
			if err := t.checkRequired(nr); err != nil {
				r.err = err
				if fresh {
					p.nextID[t]-- // nothing was added
				}
				continue
			}
			p.put(t, nr, fresh)
			r.record = t.rowRecord(nr)
			r.n = 1
		case reqUpdate:
			p.each(t, r.conds, func(cur *row) {
				nr := cur.clone()
				nr.patch(r.patch)
				p.put(t, nr, false)
				r.n++
			})
		case reqDelete:
			p.each(t, r.conds, func(cur *row) {
				p.over[t][cur.id] = nil
				p.ops = append(p.ops, op{kind: opDelete, t: t, id: cur.id})
				r.n++
			})
		}
	}
	return p
}

func (p *planner) newID(t *table) uint64 {
	id := p.nextID[t]
	p.nextID[t]++
	return id
}

func (p *planner) put(t *table, r *row, fresh bool) {
	if fresh {
		p.added[t] = append(p.added[t], r.id)
	}
	p.over[t][r.id] = r
	p.ops = append(p.ops, op{kind: opPut, t: t, row: r, fresh: fresh})
}

// each calls fn with every live record of t that matches conds, as the
// batch so far has left it, in id order.
func (p *planner) each(t *table, conds []cond, fn func(*row)) {
	ov := p.over[t]
	for slot, id := range t.ids {
		if !t.isLive(slot, p.now) {
			continue
		}
		if r, ok := ov[id]; ok {
			if r != nil && r.matches(conds) {
				fn(r)
			}
			continue
		}
		if t.matches(conds, slot) {
			fn(t.rowAt(slot))
		}
	}
	for _, id := range p.added[t] {
		if r := ov[id]; r != nil && r.matches(conds) {
			fn(r)
		}
	}
}

func (r *row) clone() *row {
	c := *r
	c.vals = append([]value(nil), r.vals...)
	c.extra = append([]rawField(nil), r.extra...)
	return &c
}

func (r *row) patch(p []patchEntry) {
	for _, e := range p {
		r.vals[e.pos] = e.v
	}
}

func (r *row) matches(conds []cond) bool {
	for i := range conds {
		if !conds[i].match(r.vals[conds[i].pos]) {
			return false
		}
	}
	return true
}

func (t *table) matches(conds []cond, slot int) bool {
	for i := range conds {
		c := &conds[i]
		if !c.match(t.cols[c.pos].get(slot)) {
			return false
		}
	}
	return true
}

// convertRecord checks a record against the contract and converts it.
func (t *table) convertRecord(in any) (*row, error) {
	if err := t.class.ValidateRecord(in); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	r := &row{vals: make([]value, len(t.fields))}
	if t.scalar {
		v, err := toValue(t.kinds[0], in)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		r.vals[0] = v
		return r, nil
	}
	for name, fv := range in.(map[string]any) {
		pos := t.pos[name]
		v, err := toValue(t.kinds[pos], fv)
		if err != nil {
			return nil, fmt.Errorf("%w: field %q: %w", ErrInvalid, name, err)
		}
		r.vals[pos] = v
	}
	return r, nil
}

// convertPatch checks a patch against the contract and converts it.
func (t *table) convertPatch(patch map[string]any) ([]patchEntry, error) {
	if err := t.class.ValidatePatch(patch); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	out := make([]patchEntry, 0, len(patch))
	for name, fv := range patch {
		pos := t.pos[name]
		v, err := toValue(t.kinds[pos], fv)
		if err != nil {
			return nil, fmt.Errorf("%w: field %q: %w", ErrInvalid, name, err)
		}
		out = append(out, patchEntry{pos: pos, v: v})
	}
	return out, nil
}

// checkRequired reports the first required field a merged record lacks.
func (t *table) checkRequired(r *row) error {
	rc := t.class.RecordClass()
	for pos, name := range t.fields {
		if f := rc.Field(name); f != nil && f.Required && r.vals[pos].k == kNone {
			return fmt.Errorf("%w: /%s: missing required field %q of %q; the stored record does not have it either", ErrInvalid, name, name, rc.Name)
		}
	}
	return nil
}
