package podruntime

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/byoda-go/byoda/directory"
	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/podruntime/store"
)

// A member of a service joined through its directory makes searchable, in
// that directory, the values of the fields its contract gives the service
// the search right on: the pod pushes them (the directory never reaches
// into pods), at once and then with each contract check
// (--contract-poll-interval), when they changed since the last push.

// searchPush is what a membership last pushed to its service directory.
type searchPush struct {
	digest  [sha256.Size]byte
	pushed  bool // digest was accepted
	failing bool // the last push failed, and was logged
}

// searchValues returns the values the members of c make searchable from
// st: for each string field of a top-level class of objects on which c
// gives the service the search right, its value in the class's record, or
// in each record of an array of objects; at most directory.MaxSearchValues
// distinct non-empty values of at most directory.MaxSearchValueLen bytes
// (the object classes' first, then the arrays' in the order of their
// records), sorted. It reports whether values were left out for those bounds.
func searchValues(ctx context.Context, c *contract.Contract, st *store.Store) (values []directory.SearchValue, truncated bool, err error) {
	seen := map[directory.SearchValue]bool{}
	add := func(class string, fields []string, rec map[string]any) bool {
		for _, f := range fields {
			v, _ := rec[f].(string)
			if v == "" || seen[directory.SearchValue{Class: class, Field: f, Value: v}] {
				continue
			}
			if len(v) > directory.MaxSearchValueLen || len(values) == directory.MaxSearchValues {
				truncated = true
				continue
			}
			sv := directory.SearchValue{Class: class, Field: f, Value: v}
			seen[sv] = true
			values = append(values, sv)
		}
		return len(values) < directory.MaxSearchValues
	}
	// Classes of one record first: one value each, while an array could
	// take up every place.
	rank := func(cl *contract.Class) int {
		if cl.Kind == contract.KindObject {
			return 0
		}
		return 1
	}
	classes := slices.Clone(c.Classes)
	slices.SortStableFunc(classes, func(a, b *contract.Class) int { return cmp.Compare(rank(a), rank(b)) })
	for _, cls := range classes {
		rc := cls.RecordClass()
		if rc == nil {
			continue
		}
		var fields []string
		for _, f := range rc.Fields {
			if f.Type == contract.TypeString &&
				contract.Authorize(c, contract.Caller{Entity: contract.EntityService}, contract.ActionSearch, cls.Name, f.Name).Allowed {
				fields = append(fields, f.Name)
			}
		}
		if len(fields) == 0 {
			continue
		}
		if cls.Kind == contract.KindObject {
			rec, err := st.Get(ctx, cls.Name)
			if err != nil {
				return nil, false, fmt.Errorf("class %s: %w", cls.Name, err)
			}
			add(cls.Name, fields, rec)
			continue
		}
		for q := (store.Query{First: store.MaxFirst, Fields: fields, SkipCount: true}); ; {
			page, err := st.Query(ctx, cls.Name, q)
			if err != nil {
				return nil, false, fmt.Errorf("class %s: %w", cls.Name, err)
			}
			more := true
			for _, e := range page.Edges {
				rec, _ := e.Node.(map[string]any)
				if more = add(cls.Name, fields, rec); !more {
					truncated = truncated || page.PageInfo.HasNextPage
					break
				}
			}
			if !more || !page.PageInfo.HasNextPage {
				break
			}
			q.After = page.PageInfo.EndCursor
		}
	}
	slices.SortFunc(values, func(a, b directory.SearchValue) int {
		return strings.Compare(a.Class+"\x00"+a.Field+"\x00"+a.Value, b.Class+"\x00"+b.Field+"\x00"+b.Value)
	})
	return values, truncated, nil
}

// pushSearchValues sends m's searchable values to the directory of its
// service when they differ from what last was accepted, and records the
// outcome in last. A failure is logged once until a push succeeds.
func (p *Pod) pushSearchValues(ctx context.Context, m *membership, serviceURL string, last *searchPush) {
	values, truncated, err := searchValues(ctx, m.contract, m.store)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("Could not read the values to make searchable", "service", m.sid, "err", err)
		}
		return
	}
	body, _ := json.Marshal(values)
	digest := sha256.Sum256(body)
	if last.pushed && digest == last.digest {
		return
	}
	sc, err := p.serviceClient(serviceURL, &m.cert)
	if err == nil {
		defer sc.Close()
		err = sc.SetSearchValues(ctx, values)
	}
	if err != nil {
		if ctx.Err() == nil && !last.failing {
			p.log.Warn("Could not publish the searchable values; will try again", "service", m.sid, "directory", serviceURL, "err", err)
		}
		last.failing, last.pushed = true, false
		return
	}
	if truncated {
		p.log.Warn("Published only some searchable values", "service", m.sid, "published", len(values),
			"limit", fmt.Sprintf("%d values of at most %d bytes", directory.MaxSearchValues, directory.MaxSearchValueLen))
	}
	p.log.Debug("Published the searchable values", "service", m.sid, "values", len(values))
	*last = searchPush{digest: digest, pushed: true}
}
