package store

// ChangeOp says what a Change did.
type ChangeOp int

// The kinds of change.
const (
	ChangeAppend ChangeOp = iota + 1 // a record was added (or an object set for the first time)
	ChangeUpdate                     // a record was changed by Update or Mutate
	ChangeDelete                     // a record was deleted
)

// Change is one committed change to a record, for subscriptions.
type Change struct {
	Class  string
	Op     ChangeOp
	Cursor string
	// Record is the record after the change. For a delete it is nil from
	// Watch; from WatchClass it is the record as it was before the delete.
	Record any
	// WasMatched and Matched are set by WatchClass: whether the record
	// matched the watch's filter before the change (false for an append)
	// and whether it matches after it (false for a delete).
	WasMatched, Matched bool
}

// watcher is one Watch or WatchClass.
type watcher struct {
	fn func(Change)
	// t is the table of a WatchClass, whose filter is conds; nil for a
	// Watch of every class.
	t     *table
	conds []cond
}

// Watch calls fn with every change once it is durable, in commit order,
// until stop is called. fn runs on the store's commit path: it must return
// quickly and must not call the store's write methods. Expiry of cache_only
// records is not reported.
func (s *Store) Watch(fn func(Change)) (stop func()) {
	return s.addWatcher(&watcher{fn: fn})
}

// WatchClass calls fn, as Watch does, with every durable change to a record
// of class that matches filter before or after the change. The filter is
// Query's, evaluated by the same code on the record as stored: a record
// that Query with this filter would return is one whose append or update
// is reported with Matched set, and a delete is reported when the record
// matched just before it (with that record). An update that moves a record
// into or out of the filter is reported with WasMatched and Matched
// telling which. Changes made by one write are all reported, each against
// the record as the write's earlier changes left it. The filter is checked
// against the class as Query checks it.
func (s *Store) WatchClass(class string, filter Filter, fn func(Change)) (stop func(), err error) {
	t, err := s.table(class)
	if err != nil {
		return nil, err
	}
	conds, err := compileFilter(t, filter)
	if err != nil {
		return nil, err
	}
	return s.addWatcher(&watcher{fn: fn, t: t, conds: conds}), nil
}

func (s *Store) addWatcher(w *watcher) (stop func()) {
	s.watchMu.Lock()
	id := s.watchSeq
	s.watchSeq++
	s.watchers[id] = w
	s.nWatch.Add(1)
	s.watchMu.Unlock()
	return func() {
		s.watchMu.Lock()
		defer s.watchMu.Unlock()
		if _, ok := s.watchers[id]; ok {
			delete(s.watchers, id)
			s.nWatch.Add(-1)
		}
	}
}

// watchBatch is what the watchers of a batch of operations are told about,
// found out before the batch is applied: which records matched the filters
// of WatchClass before the change, and the records deletes remove.
type watchBatch struct {
	watchers []*watcher
	// filtered are the watchers with a filter, by their index in
	// watchers; was[i*len(filtered)+j] says whether the record of op i
	// matched filtered[j] before the op.
	filtered []int
	was      []bool
	// old[i] is the record op i deletes, when some filter matched it.
	old []*row
}

// watchBefore takes the watchers of a batch of operations that is about to
// be applied, and for those of WatchClass evaluates their filters on the
// records as they are before each operation. It runs with s.mu held for
// writing, before ops change anything.
func (s *Store) watchBefore(ops []op) *watchBatch {
	s.watchMu.Lock()
	wb := &watchBatch{watchers: make([]*watcher, 0, len(s.watchers))}
	for _, w := range s.watchers {
		if w.t != nil {
			wb.filtered = append(wb.filtered, len(wb.watchers))
		}
		wb.watchers = append(wb.watchers, w)
	}
	s.watchMu.Unlock()
	if len(wb.filtered) == 0 {
		return wb
	}
	nf := len(wb.filtered)
	// latest is a record as an earlier op of the batch left it (nil:
	// deleted), for a record that the batch changes more than once.
	type key struct {
		t  *table
		id uint64
	}
	var latest map[key]*row
	for i := range ops {
		o := &ops[i]
		if o.t == nil || o.kind == opClaim || !wb.watches(o.t) {
			continue
		}
		if wb.was == nil {
			wb.was = make([]bool, len(ops)*nf)
		}
		id := o.id
		if o.kind == opPut {
			id = o.row.id
		}
		prev, inBatch := latest[key{o.t, id}]
		slot, inTable := -1, false
		if !inBatch && !(o.kind == opPut && o.fresh) {
			slot, inTable = o.t.slotOf(id)
		}
		matchedAny := false
		for j, wi := range wb.filtered {
			w := wb.watchers[wi]
			if w.t != o.t {
				continue
			}
			var was bool
			switch {
			case prev != nil:
				was = prev.matches(w.conds)
			case inTable:
				was = o.t.matches(w.conds, slot)
			}
			wb.was[i*nf+j] = was
			matchedAny = matchedAny || was
		}
		if o.kind == opDelete && matchedAny {
			if wb.old == nil {
				wb.old = make([]*row, len(ops))
			}
			if prev != nil {
				wb.old[i] = prev
			} else {
				wb.old[i] = o.t.rowAt(slot)
			}
		}
		if len(ops) > 1 {
			if latest == nil {
				latest = map[key]*row{}
			}
			if o.kind == opPut {
				latest[key{o.t, id}] = o.row
			} else {
				latest[key{o.t, id}] = nil
			}
		}
	}
	return wb
}

// watches reports whether a filtered watcher watches t.
func (wb *watchBatch) watches(t *table) bool {
	for _, wi := range wb.filtered {
		if wb.watchers[wi].t == t {
			return true
		}
	}
	return false
}

// notify tells the watchers of wb about ops, which are durable and
// applied.
func (s *Store) notify(ops []op, wb *watchBatch) {
	nf := len(wb.filtered)
	for i := range ops {
		o := &ops[i]
		if o.t == nil || o.kind == opClaim {
			continue
		}
		base := Change{Class: o.t.name}
		switch {
		case o.kind == opDelete:
			base.Op, base.Cursor = ChangeDelete, encodeCursor(o.id)
		case o.fresh:
			base.Op, base.Cursor = ChangeAppend, encodeCursor(o.row.id)
		default:
			base.Op, base.Cursor = ChangeUpdate, encodeCursor(o.row.id)
		}
		// The record is made once per op, and shared by its watchers.
		var rec, old any
		record := func() any {
			if rec == nil && o.kind == opPut {
				rec = o.t.rowRecord(o.row)
			}
			return rec
		}
		fi := 0
		for _, w := range wb.watchers {
			if w.t == nil {
				c := base
				c.Record = record()
				w.fn(c)
				continue
			}
			j := fi
			fi++
			if w.t != o.t {
				continue
			}
			was := wb.was != nil && wb.was[i*nf+j]
			now := o.kind == opPut && o.row.matches(w.conds)
			if !was && !now {
				continue
			}
			c := base
			c.WasMatched, c.Matched = was, now
			if o.kind == opDelete {
				if old == nil && wb.old != nil && wb.old[i] != nil {
					old = o.t.rowRecord(wb.old[i])
				}
				c.Record = old
			} else {
				c.Record = record()
			}
			w.fn(c)
		}
	}
}
