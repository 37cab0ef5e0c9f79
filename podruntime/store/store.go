package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/objstore"
)

// Options configure a Store.
type Options struct {
	// Objects is the object store that holds the data: the only place the
	// store writes to. Required.
	Objects objstore.Store

	// Prefix is the key prefix of this store's objects. Empty means
	// DefaultPrefix(ServiceID, MemberID). Two stores must never share one.
	Prefix string

	// ServiceID and MemberID identify the membership the store belongs to.
	// They are bound into the wrapped data key, so a store opened for the
	// wrong membership fails. ServiceID 0 means the contract's.
	ServiceID uint32
	MemberID  uuid.UUID

	// Contract shapes the data: its classes and their fields. Required.
	Contract *contract.Contract

	// KEK wraps the data key. Required.
	KEK KeyWrapper

	// Clock returns the current time; time.Now if nil. Records of cache_only
	// classes expire by it.
	Clock func() time.Time

	// Log receives background problems (a failed compaction, a fenced
	// store) and an accepted rollback. Discarded if nil.
	Log *slog.Logger

	// MarkFile is a file on local disk where the store keeps its
	// high-water mark: the newest log segment it knows to be durable. Open
	// refuses a log that ends before the mark (a *RollbackError matching
	// ErrRolledBack): its newest segments were deleted, or the object
	// store was restored from an older backup. The file is written
	// atomically, in the background as commits go by (never on a
	// commit's path) and when the store opens and closes; its directory is
	// created. Empty turns the check off. Only one store may use a file.
	MarkFile string

	// AcceptRollback opens a store whose log ends before its high-water
	// mark (a deliberate restore from a backup) instead of refusing it,
	// with a warning in the log, and resets the mark to the log found. It
	// also replaces an unreadable mark file. Meant for one start: left on,
	// it turns the rollback check off.
	AcceptRollback bool

	// DefaultCacheTTL is how long records of a cache_only class live when
	// the contract gives no duration. Default 24h.
	DefaultCacheTTL time.Duration

	// WriteTimeout bounds one write to the object store, retries included.
	// Default 30s.
	WriteTimeout time.Duration

	// CompactSegments and CompactBytes start a compaction once the log has
	// this many segments, or this many bytes (but at least as many as the
	// last snapshot), since the last snapshot. Defaults 1000 and 16 MiB; a
	// negative CompactSegments turns automatic compaction off.
	CompactSegments int
	CompactBytes    int64

	// ChunkSize is the size a snapshot chunk grows to before the next one
	// starts, in bytes of plaintext. Default 4 MiB.
	ChunkSize int
}

// Defaults and limits.
const (
	// DefaultFirst is the page size of a query that gives none.
	DefaultFirst = 20
	// MaxFirst is the largest page a query may ask for.
	MaxFirst = 500

	defaultCacheTTL        = 24 * time.Hour
	defaultWriteTimeout    = 30 * time.Second
	defaultCompactSegments = 1000
	defaultCompactBytes    = 16 << 20
	defaultChunkSize       = 4 << 20

	// openAttempts bounds how often Open reloads when a concurrent
	// compaction or another writer moves the log under it.
	openAttempts = 8
	// maxBatchRows caps the records of one group commit (a single request
	// is never split).
	maxBatchRows = 8192
)

// Store is the encrypted data store of one membership. All its data is held
// in memory and answered from there; every change is first made durable as
// an encrypted write-ahead log segment in the object store. Methods are safe
// for concurrent use.
type Store struct {
	opts     Options
	objects  objstore.Store
	layout   layout
	contract *contract.Contract
	now      func() time.Time
	log      *slog.Logger
	sealer   sealer
	mark     *marker // nil without Options.MarkFile
	markSeq  uint64  // the mark read at Open
	writerID [16]byte

	// mu guards the data: tables and log position. Queries hold it for
	// reading; only applying a committed segment (and purging expired
	// records) holds it for writing.
	mu         sync.RWMutex
	tables     map[string]*table
	orphans    map[string]*orphan
	seq        uint64          // last segment applied
	claims     map[uint64]bool // segments that are claims, kept forever
	snapSeq    uint64          // segment the latest snapshot covers
	snapBytes  int64
	walBytes   int64 // bytes of segments after snapSeq
	nextExpiry atomic.Int64

	// The commit queue. The committer goroutine owns inDoubt.
	qmu      sync.Mutex
	queue    []*request
	closing  bool
	wake     chan struct{}
	loopDone chan struct{}
	inDoubt  []pendingSegment
	fenced   atomic.Pointer[error]

	compactMu       sync.Mutex
	compacting      atomic.Bool
	compactFailedAt atomic.Int64 // Unix nanoseconds of the last failed compaction
	bg              sync.WaitGroup

	watchMu  sync.Mutex
	watchers map[int]*watcher
	watchSeq int
	nWatch   atomic.Int32
}

// orphan holds the records of a class that the contract does not have (any
// more), unchanged, so that compaction keeps them.
type orphan struct {
	name   string
	rows   map[uint64]*row
	nextID uint64
}

// Open opens the store under opts.Prefix, creating it if it is new: it
// reads (or creates) the data key, restores the data from the latest
// snapshot and the log after it, and claims the store for writing, which
// fences any other writer on the same prefix.
//
// Open changes nothing in the object store when it refuses a store that
// has lost objects: a log without its data key (ErrDataKeyMissing), or,
// with Options.MarkFile, a log that ends before the high-water mark
// (ErrRolledBack).
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.normalize(); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Store{
		opts:     opts,
		objects:  opts.Objects,
		layout:   layout{prefix: strings.TrimSuffix(opts.Prefix, "/") + "/"},
		contract: opts.Contract,
		now:      opts.Clock,
		log:      opts.Log,
		wake:     make(chan struct{}, 1),
		loopDone: make(chan struct{}),
		watchers: map[int]*watcher{},
	}
	rand.Read(s.writerID[:])
	// The mark is read before anything is read from the object store: it
	// only names segments that were durable when it was written, so every
	// listing after this sees them, also when another store on the prefix
	// is writing the mark meanwhile.
	if opts.MarkFile != "" {
		s.mark = newMarker(opts.MarkFile, s.layout.prefix, s.log, s.position)
		if err := s.mark.prepare(); err != nil {
			return nil, fmt.Errorf("open store %s: %w", s.layout.prefix, err)
		}
		seq, err := readMark(opts.MarkFile, s.layout.prefix, s.log)
		if err != nil && !opts.AcceptRollback {
			return nil, fmt.Errorf("open store %s: %w", s.layout.prefix, err)
		}
		if err != nil {
			s.log.Warn("Replacing an unreadable high-water mark, as a rollback was accepted", "prefix", s.layout.prefix, "err", err)
		}
		s.markSeq = seq
	}
	key, err := s.loadKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", s.layout.prefix, err)
	}
	s.sealer.keys = append(s.sealer.keys, key)

	for attempt := 1; ; attempt++ {
		err = s.load(ctx)
		if err == nil {
			err = s.checkMark(s.seq)
		}
		if err == nil {
			err = s.claim(ctx)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, errMoved) || attempt == openAttempts {
			return nil, fmt.Errorf("open store %s: %w", s.layout.prefix, err)
		}
	}
	if s.mark != nil {
		// Written before Open returns, so that the next Open compares
		// with this one's position even if this process dies at once.
		if err := s.mark.set(s.seq); err != nil {
			return nil, fmt.Errorf("open store %s: %w", s.layout.prefix, err)
		}
		go s.mark.run()
	}
	go s.commitLoop()
	return s, nil
}

// checkMark refuses a log that ends at found, before the high-water mark
// read at Open, unless a rollback is accepted.
func (s *Store) checkMark(found uint64) error {
	if found >= s.markSeq {
		return nil
	}
	err := &RollbackError{Prefix: s.layout.prefix, MarkFile: s.opts.MarkFile, Mark: s.markSeq, Found: found}
	if !s.opts.AcceptRollback {
		return err
	}
	s.log.Warn("Accepted a log older than the high-water mark, as asked; the mark is reset to it",
		"prefix", s.layout.prefix, "mark", s.markSeq, "found", found, "file", s.opts.MarkFile)
	s.markSeq = 0 // warn once, also if Open loads again
	return nil
}

// position returns the last segment applied, which is durable.
func (s *Store) position() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.seq
}

func (o *Options) normalize() error {
	switch {
	case o.Objects == nil:
		return errors.New("no object store")
	case o.Contract == nil:
		return errors.New("no contract")
	case o.KEK == nil:
		return errors.New("no key-encryption key")
	}
	if o.ServiceID == 0 {
		o.ServiceID = o.Contract.ServiceID
	}
	if o.ServiceID != o.Contract.ServiceID {
		return fmt.Errorf("service %d: the contract is for service %d", o.ServiceID, o.Contract.ServiceID)
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix(o.ServiceID, o.MemberID)
	}
	if err := objstore.ValidateKey(strings.TrimSuffix(o.Prefix, "/")); err != nil {
		return fmt.Errorf("prefix: %w", err)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.DefaultCacheTTL <= 0 {
		o.DefaultCacheTTL = defaultCacheTTL
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = defaultWriteTimeout
	}
	if o.CompactSegments == 0 {
		o.CompactSegments = defaultCompactSegments
	}
	if o.CompactBytes <= 0 {
		o.CompactBytes = defaultCompactBytes
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = defaultChunkSize
	}
	return nil
}

// reset empties the in-memory data before a (re)load.
func (s *Store) reset() {
	s.tables = make(map[string]*table, len(s.contract.Classes))
	for _, c := range s.contract.Classes {
		s.tables[c.Name] = newTable(c, s.opts.DefaultCacheTTL)
	}
	s.orphans = map[string]*orphan{}
	s.claims = map[uint64]bool{}
	s.seq, s.snapSeq, s.snapBytes, s.walBytes = 0, 0, 0, 0
	s.nextExpiry.Store(math.MaxInt64)
}

// Close waits for the writes in flight, then stops the store and writes
// its final high-water mark (Options.MarkFile). Later calls fail with
// ErrClosed. Close does not compact; data is durable anyway.
func (s *Store) Close() error {
	s.qmu.Lock()
	already := s.closing
	s.closing = true
	s.qmu.Unlock()
	if already {
		return ErrClosed
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-s.loopDone
	s.bg.Wait()
	if s.mark != nil {
		if err := s.mark.close(); err != nil {
			return fmt.Errorf("close store %s: %w", s.layout.prefix, err)
		}
	}
	return nil
}

// table returns the table of a class, or an error naming the classes there
// are.
func (s *Store) table(class string) (*table, error) {
	if t := s.tables[class]; t != nil {
		return t, nil
	}
	names := make([]string, len(s.contract.Classes))
	for i, c := range s.contract.Classes {
		names[i] = c.Name
	}
	return nil, fmt.Errorf("%w: unknown class %q; the contract of service %d has %s", ErrInvalid, class, s.opts.ServiceID, quoteAll(names))
}

// expire purges the records of cache_only classes that have expired, so
// that reads and counters never see them.
func (s *Store) expire() int64 {
	now := s.now().UnixNano()
	if s.nextExpiry.Load() > now {
		return now
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := int64(math.MaxInt64)
	for _, t := range s.tables {
		t.purge(now)
		next = min(next, t.minExp)
	}
	s.nextExpiry.Store(next)
	return now
}

// Get returns the record of an object class, or nil if it has none.
func (s *Store) Get(ctx context.Context, class string) (map[string]any, error) {
	t, err := s.table(class)
	if err != nil {
		return nil, err
	}
	if t.class.Kind != contract.KindObject {
		return nil, fmt.Errorf("%w: %q is an %s; read it with Query", ErrInvalid, class, t.class.Kind)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.expire()
	s.mu.RLock()
	defer s.mu.RUnlock()
	for slot := range t.ids {
		if t.isLive(slot, now) {
			return t.record(slot, nil).(map[string]any), nil
		}
	}
	return nil, nil
}

// Mutate merges patch into the record of an object class and returns the
// result: fields the patch leaves out keep their values, fields it sets to
// nil are cleared. The merged record must satisfy the contract (required
// fields included). It returns once the change is durable.
func (s *Store) Mutate(ctx context.Context, class string, patch map[string]any) (map[string]any, error) {
	t, err := s.table(class)
	if err != nil {
		return nil, err
	}
	if t.class.Kind != contract.KindObject {
		return nil, fmt.Errorf("%w: %q is an %s; change it with Append, Update and Delete", ErrInvalid, class, t.class.Kind)
	}
	p, err := t.convertPatch(patch)
	if err != nil {
		return nil, fmt.Errorf("mutate %q: %w", class, err)
	}
	r := &request{kind: reqMutate, t: t, patch: p}
	if err := s.submit(ctx, r); err != nil {
		return nil, fmt.Errorf("mutate %q: %w", class, err)
	}
	return r.record.(map[string]any), nil
}

// Append adds records to an array class, in order, and returns their
// cursors. Each record is a map of fields (for an array of objects) or a
// single value (for an array of scalars) that the contract must accept. The
// records are added together or not at all, and Append returns once they
// are durable.
func (s *Store) Append(ctx context.Context, class string, records ...any) ([]string, error) {
	t, err := s.table(class)
	if err != nil {
		return nil, err
	}
	if t.class.Kind == contract.KindObject {
		return nil, fmt.Errorf("%w: %q is an object; change it with Mutate", ErrInvalid, class)
	}
	if len(records) == 0 {
		return nil, nil
	}
	rows := make([]*row, len(records))
	for i, rec := range records {
		if rows[i], err = t.convertRecord(rec); err != nil {
			if len(records) > 1 {
				return nil, fmt.Errorf("append to %q: record %d: %w", class, i, err)
			}
			return nil, fmt.Errorf("append to %q: %w", class, err)
		}
	}
	r := &request{kind: reqAppend, t: t, rows: rows}
	if err := s.submit(ctx, r); err != nil {
		return nil, fmt.Errorf("append to %q: %w", class, err)
	}
	return r.cursors, nil
}

// Update merges patch (as Mutate does) into every record of class that
// matches filter, and returns how many it changed. The filter is required
// for arrays: an empty one is an error rather than an update of everything.
func (s *Store) Update(ctx context.Context, class string, filter Filter, patch map[string]any) (int, error) {
	t, conds, err := s.changeTarget(class, filter)
	if err != nil {
		return 0, fmt.Errorf("update %q: %w", class, err)
	}
	if t.scalar {
		return 0, fmt.Errorf("%w: update %q: it holds single values; delete and append them instead", ErrInvalid, class)
	}
	p, err := t.convertPatch(patch)
	if err != nil {
		return 0, fmt.Errorf("update %q: %w", class, err)
	}
	r := &request{kind: reqUpdate, t: t, conds: conds, patch: p}
	if err := s.submit(ctx, r); err != nil {
		return 0, fmt.Errorf("update %q: %w", class, err)
	}
	return r.n, nil
}

// Delete removes every record of class that matches filter and returns how
// many it removed. The filter is required for arrays; for an object class
// an empty filter deletes the object.
func (s *Store) Delete(ctx context.Context, class string, filter Filter) (int, error) {
	t, conds, err := s.changeTarget(class, filter)
	if err != nil {
		return 0, fmt.Errorf("delete from %q: %w", class, err)
	}
	r := &request{kind: reqDelete, t: t, conds: conds}
	if err := s.submit(ctx, r); err != nil {
		return 0, fmt.Errorf("delete from %q: %w", class, err)
	}
	return r.n, nil
}

func (s *Store) changeTarget(class string, filter Filter) (*table, []cond, error) {
	t, err := s.table(class)
	if err != nil {
		return nil, nil, err
	}
	if len(filter) == 0 && t.class.Kind != contract.KindObject {
		return nil, nil, fmt.Errorf("%w: a filter is required to change the records of an array", ErrInvalid)
	}
	conds, err := compileFilter(t, filter)
	if err != nil {
		return nil, nil, err
	}
	return t, conds, nil
}

// Counter returns how many records of class have value in field, a field
// the contract marks "counter". Counters are kept exact as records are
// appended, updated, deleted and expire.
func (s *Store) Counter(ctx context.Context, class, field string, value any) (int64, error) {
	t, err := s.table(class)
	if err != nil {
		return 0, err
	}
	pos, ok := t.pos[field]
	if !ok || t.counter[pos] == nil {
		var counters []string
		for i, c := range t.counter {
			if c != nil {
				counters = append(counters, t.fields[i])
			}
		}
		return 0, fmt.Errorf("%w: counter of %q: %q is not a counter field; the counter fields are %s", ErrInvalid, class, field, quoteAll(counters))
	}
	k := t.kinds[pos]
	var key string
	switch k {
	case kInt, kFloat:
		f, ok := floatOf(value)
		if !ok {
			return 0, fmt.Errorf("%w: counter of %q, field %q: want a number, got %s", ErrInvalid, class, field, describe(value))
		}
		n, isInt := intOf(value)
		switch {
		case k == kFloat:
			key = floatKey(f)
		case !isInt:
			return 0, nil // no integer field holds a fraction
		default:
			key = strconv.FormatInt(n, 10)
		}
	default:
		v, err := toValue(k, value)
		if err != nil || v.k == kNone {
			return 0, fmt.Errorf("%w: counter of %q, field %q: want a %s value, got %s", ErrInvalid, class, field, k, describe(value))
		}
		key = v.key()
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.expire()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return t.counter[pos][key], nil
}

// Stats describe the store's position, for metrics and tests.
type Stats struct {
	// Seq is the sequence number of the last log segment applied.
	Seq uint64
	// SnapshotSeq is the segment the latest snapshot covers (0: none).
	SnapshotSeq uint64
	// Records counts the live records of every class.
	Records int
	// LogBytes is the size of the log segments after the snapshot.
	LogBytes int64
}

// Stats returns the store's current position.
func (s *Store) Stats() Stats {
	s.expire()
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Stats{Seq: s.seq, SnapshotSeq: s.snapSeq, LogBytes: s.walBytes}
	for _, t := range s.tables {
		st.Records += t.live()
	}
	return st
}

// writable returns the reason the store refuses writes, or nil.
func (s *Store) writable() error {
	if p := s.fenced.Load(); p != nil {
		return *p
	}
	return nil
}

// fence stops all writes for good and returns err.
func (s *Store) fence(err error) error {
	if s.fenced.CompareAndSwap(nil, &err) {
		s.log.Error("Store fenced: refusing all further writes", "prefix", s.layout.prefix, "err", err)
	}
	return *s.fenced.Load()
}
