package graphql

import (
	"math"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/byoda-go/byoda/internal/contract"
)

// The limits below are validation rules rather than handler extensions:
// they depend on the query text only, so gqlgen runs them once per distinct
// query and caches the verdict with the parsed query, and a violation is a
// GRAPHQL_VALIDATION_FAILED error (HTTP 422) that names the limit.

// depthRule refuses operations that nest fields more than max deep. The
// fields of introspection (__schema, __type) do not count: gqlparser's
// MaxIntrospectionDepth rule bounds those.
func depthRule(max int) core.Rule {
	return core.Rule{
		Name: "MaxDepth",
		RuleFunc: func(observers *core.Events, addError core.AddErrFunc) {
			observers.OnOperation(func(walker *core.Walker, op *ast.OperationDefinition) {
				d := depthCounter{doc: walker.Document, memo: map[string]int{}}
				if depth := d.selections(op.SelectionSet); depth > max {
					addError(
						core.Message("the operation nests fields %d deep; the limit is %d: ask for fewer levels in one query", depth, max),
						core.At(op.Position),
					)
				}
			})
		},
	}
}

// depthCounter measures how deeply a selection set nests fields, following
// fragments. It remembers the depth of each fragment, so that fragments
// spread many times cost nothing more; a fragment cycle (which another rule
// reports) counts as no depth.
type depthCounter struct {
	doc  *ast.QueryDocument
	memo map[string]int // fragment name -> depth; -1 while measuring it
}

func (d *depthCounter) selections(sel ast.SelectionSet) int {
	deepest := 0
	for _, s := range sel {
		depth := 0
		switch s := s.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				continue
			}
			depth = 1 + d.selections(s.SelectionSet)
		case *ast.InlineFragment:
			depth = d.selections(s.SelectionSet)
		case *ast.FragmentSpread:
			depth = d.fragment(s.Name)
		}
		deepest = max(deepest, depth)
	}
	return deepest
}

func (d *depthCounter) fragment(name string) int {
	if depth, ok := d.memo[name]; ok {
		return max(depth, 0)
	}
	def := d.doc.Fragments.ForName(name)
	if def == nil {
		return 0
	}
	d.memo[name] = -1
	depth := d.selections(def.SelectionSet)
	d.memo[name] = depth
	return depth
}

// introspectionDepthRule is gqlparser's MaxIntrospectionDepth (an
// introspection query may nest the lists fields, interfaces, possibleTypes
// and inputFields at most maxIntrospectionLists - 1 deep) that remembers
// how deep each fragment nests them. gqlparser's walks every spread of
// every fragment again, so fragments that each spread the next twice made
// it take time that doubles with every level.
func introspectionDepthRule() core.Rule {
	return core.Rule{
		Name: "MaxIntrospectionDepth",
		RuleFunc: func(observers *core.Events, addError core.AddErrFunc) {
			var d *introDepth
			observers.OnField(func(walker *core.Walker, field *ast.Field) {
				if field.Name != "__schema" && field.Name != "__type" {
					return
				}
				if d == nil {
					d = &introDepth{doc: walker.Document, memo: map[string]int{}}
				}
				if d.selections(field.SelectionSet) >= maxIntrospectionLists {
					addError(core.Message(`Maximum introspection depth exceeded`), core.At(field.Position))
				}
			})
		},
	}
}

// maxIntrospectionLists is gqlparser's maxListsDepth.
const maxIntrospectionLists = 3

// introDepth counts how deeply a selection set nests introspection lists,
// following fragments, and remembers it for each fragment.
type introDepth struct {
	doc  *ast.QueryDocument
	memo map[string]int // fragment name -> depth; -1 while measuring it
}

func (d *introDepth) selections(sel ast.SelectionSet) int {
	deepest := 0
	for _, s := range sel {
		depth := 0
		switch s := s.(type) {
		case *ast.Field:
			switch s.Name {
			case "fields", "interfaces", "possibleTypes", "inputFields":
				depth = 1
			}
			depth += d.selections(s.SelectionSet)
		case *ast.InlineFragment:
			depth = d.selections(s.SelectionSet)
		case *ast.FragmentSpread:
			depth = d.fragment(s.Name)
		}
		deepest = max(deepest, depth)
	}
	return deepest
}

func (d *introDepth) fragment(name string) int {
	if depth, ok := d.memo[name]; ok {
		return max(depth, 0) // a cycle, which another rule reports
	}
	def := d.doc.Fragments.ForName(name)
	if def == nil {
		return 0
	}
	d.memo[name] = -1
	depth := d.selections(def.SelectionSet)
	d.memo[name] = depth
	return depth
}

// overlapRule is gqlparser's OverlappingFieldsCanBeMerged behind a bound
// on the work it would do. That rule compares every two fields of a
// selection set that share a response name (with their selections, and
// those of the fragments spread there), which takes time that grows with
// the square of how often a query repeats a name: a 40 KB query that
// repeats one field 2,000 times kept a core busy for seconds. An operation
// whose merges would cost more than maxMergeWork (see mergeWork) is
// refused before gqlparser's rule runs; the others get gqlparser's rule.
func overlapRule() core.Rule {
	inner := rules.OverlappingFieldsCanBeMergedRule
	return core.Rule{
		Name: inner.Name,
		RuleFunc: func(observers *core.Events, addError core.AddErrFunc) {
			done := false
			// The first event of the walk checks the whole document, and
			// runs gqlparser's rule over it in a walk of its own.
			first := func(w *core.Walker) {
				if done {
					return
				}
				done = true
				if work, name := mergeWork(w.Document); work > maxMergeWork {
					addError(core.Message("the operation repeats fields of the same name too often for the server to check that they merge (%q, counting the fields of fragments); ask for each field once in a selection set", name))
					return
				}
				events := &core.Events{}
				inner.RuleFunc(events, addError)
				core.Walk(w.Schema, w.Document, events)
			}
			observers.OnOperation(func(w *core.Walker, _ *ast.OperationDefinition) { first(w) })
			observers.OnFragment(func(w *core.Walker, _ *ast.FragmentDefinition) { first(w) })
			observers.OnField(func(w *core.Walker, _ *ast.Field) { first(w) })
			observers.OnInlineFragment(func(w *core.Walker, _ *ast.InlineFragment) { first(w) })
		},
	}
}

// maxMergeWork bounds mergeWork: a few tens of milliseconds of gqlparser's
// checks. Queries that clients write stay far below it (GraphiQL's
// introspection of the largest contract: under 1,000).
const maxMergeWork = 100_000

// mergeWork estimates the comparisons gqlparser's OverlappingFieldsCanBeMerged
// makes for a document: for each selection set, for each response name that
// n fields share (counting those of inline fragments and of the fragments
// spread there, each fragment once), n² and the square of the number of
// fields their selections hold. It returns the estimate and the name that
// weighs most. It takes time linear in the document: each fragment's
// fields are counted once and remembered.
func mergeWork(doc *ast.QueryDocument) (int, string) {
	m := mergeCounter{doc: doc, frags: map[string]map[string]mergeGroup{}, sizes: map[string]int{}}
	var visit func(sel ast.SelectionSet)
	visit = func(sel ast.SelectionSet) {
		if len(sel) == 0 {
			return
		}
		for name, g := range m.groups(sel) {
			if g.n < 2 {
				continue
			}
			w := satAdd(satMul(g.n, g.n), satMul(g.sub, g.sub))
			m.work = satAdd(m.work, w)
			if w > m.worst {
				m.worst, m.worstName = w, name
			}
		}
		for _, s := range sel {
			switch s := s.(type) {
			case *ast.Field:
				visit(s.SelectionSet)
			case *ast.InlineFragment:
				visit(s.SelectionSet)
			}
		}
	}
	for _, op := range doc.Operations {
		visit(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		visit(f.SelectionSet)
	}
	return m.work, m.worstName
}

// mergeGroup is the fields of one response name in a selection set: how
// many, and how many fields their selections hold.
type mergeGroup struct{ n, sub int }

type mergeCounter struct {
	doc       *ast.QueryDocument
	frags     map[string]map[string]mergeGroup // fragment name -> its groups, with the fragments it spreads
	sizes     map[string]int                   // fragment name -> fields it holds, with the fragments it spreads
	work      int
	worst     int
	worstName string
}

// groups collects the fields of a selection set by response name, with
// its inline fragments and (once each) the fragments it spreads.
func (m *mergeCounter) groups(sel ast.SelectionSet) map[string]mergeGroup {
	out := map[string]mergeGroup{}
	spread := map[string]bool{}
	var collect func(sel ast.SelectionSet)
	collect = func(sel ast.SelectionSet) {
		for _, s := range sel {
			switch s := s.(type) {
			case *ast.Field:
				key := s.Alias
				if key == "" {
					key = s.Name
				}
				g := out[key]
				g.n = satAdd(g.n, 1)
				g.sub = satAdd(g.sub, m.size(s.SelectionSet))
				out[key] = g
			case *ast.InlineFragment:
				collect(s.SelectionSet)
			case *ast.FragmentSpread:
				spread[s.Name] = true
			}
		}
	}
	collect(sel)
	for name := range spread {
		for key, fg := range m.fragment(name) {
			g := out[key]
			g.n, g.sub = satAdd(g.n, fg.n), satAdd(g.sub, fg.sub)
			out[key] = g
		}
	}
	return out
}

// fragment returns the groups of a fragment's selection set, remembered.
func (m *mergeCounter) fragment(name string) map[string]mergeGroup {
	if g, ok := m.frags[name]; ok {
		return g // nil while it is being counted: a cycle, which another rule reports
	}
	def := m.doc.Fragments.ForName(name)
	if def == nil {
		return nil
	}
	m.frags[name] = nil
	g := m.groups(def.SelectionSet)
	m.frags[name] = g
	return g
}

// size returns how many fields a selection set holds, counting inline
// fragments and the fragments it spreads (once each).
func (m *mergeCounter) size(sel ast.SelectionSet) int {
	n := 0
	spread := map[string]bool{}
	var count func(sel ast.SelectionSet)
	count = func(sel ast.SelectionSet) {
		for _, s := range sel {
			switch s := s.(type) {
			case *ast.Field:
				n = satAdd(n, 1)
			case *ast.InlineFragment:
				count(s.SelectionSet)
			case *ast.FragmentSpread:
				spread[s.Name] = true
			}
		}
	}
	count(sel)
	for name := range spread {
		n = satAdd(n, m.fragmentSize(name))
	}
	return n
}

func (m *mergeCounter) fragmentSize(name string) int {
	if n, ok := m.sizes[name]; ok {
		return n
	}
	def := m.doc.Fragments.ForName(name)
	if def == nil {
		return 0
	}
	m.sizes[name] = 0 // a cycle counts nothing
	n := m.size(def.SelectionSet)
	m.sizes[name] = n
	return n
}

// satAdd and satMul add and multiply counts without overflowing.
func satAdd(a, b int) int {
	if c := a + b; c >= a {
		return c
	}
	return math.MaxInt
}

func satMul(a, b int) int {
	if a != 0 && b > math.MaxInt/a {
		return math.MaxInt
	}
	return a * b
}

// scalarLiteralsRule checks the literals given for the schema's own
// scalars, which gqlparser accepts in any form: a DateTime must be an RFC
// 3339 string and a UUID a UUID string. Variables are checked when the
// operation runs.
var scalarLiteralsRule = core.Rule{
	Name: "ContractScalarLiterals",
	RuleFunc: func(observers *core.Events, addError core.AddErrFunc) {
		observers.OnValue(func(_ *core.Walker, v *ast.Value) {
			if v.Definition == nil || v.ExpectedType == nil {
				return
			}
			switch v.Kind {
			case ast.Variable, ast.NullValue, ast.ListValue:
				return // a list's items are values of their own
			}
			// A single value where a list is expected is a list of one.
			t := v.ExpectedType
			for t.Elem != nil {
				t = t.Elem
			}
			var msg string
			switch t.NamedType {
			case scalarDateTime:
				if v.Kind != ast.StringValue || !isDateTime(v.Raw) {
					msg = `want a date-time (RFC 3339, such as "2025-01-31T12:00:00Z")`
				}
			case scalarUUID:
				if v.Kind != ast.StringValue || !contract.IsUUID(v.Raw) {
					msg = `want a UUID (such as "3f2504e0-4f89-41d3-9a0c-0305e82c3301")`
				}
			default:
				return
			}
			if msg != "" {
				addError(core.Message("%s cannot represent %s: %s", v.Definition.Name, v.String(), msg), core.At(v.Position))
			}
		})
	},
}
