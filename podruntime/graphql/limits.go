package graphql

import (
	"context"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/complexity"
	gql "github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/core"

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

// complexityLimit is gqlgen's FixedComplexityLimit with the cost of an
// operation without variables remembered: it depends on the query text
// only, and the handler's query cache hands out the same parsed operation
// for the same text, so the walk over it (a few percent of a small list
// request) is done once. Operations with variables are costed every time:
// their page sizes may differ.
type complexityLimit struct {
	limit int
	es    gql.ExecutableSchema

	mu    sync.Mutex
	costs map[*ast.OperationDefinition]int
}

// maxCachedCosts bounds complexityLimit's memory: the query cache evicts
// operations this map would otherwise keep alive, so it starts over when
// full.
const maxCachedCosts = 4096

var _ interface {
	gql.OperationContextMutator
	gql.HandlerExtension
} = (*complexityLimit)(nil)

func (c *complexityLimit) ExtensionName() string { return "ComplexityLimit" }

func (c *complexityLimit) Validate(es gql.ExecutableSchema) error {
	c.es = es
	return nil
}

func (c *complexityLimit) MutateOperationContext(ctx context.Context, opCtx *gql.OperationContext) *gqlerror.Error {
	op := opCtx.Doc.Operations.ForName(opCtx.OperationName)
	if op == nil {
		return nil // gqlgen reports the missing operation
	}
	cost, cached := 0, false
	if len(op.VariableDefinitions) == 0 {
		c.mu.Lock()
		cost, cached = c.costs[op]
		c.mu.Unlock()
	}
	if !cached {
		cost = complexity.Calculate(ctx, c.es, op, opCtx.Variables)
		if len(op.VariableDefinitions) == 0 {
			c.mu.Lock()
			if c.costs == nil || len(c.costs) >= maxCachedCosts {
				c.costs = make(map[*ast.OperationDefinition]int)
			}
			c.costs[op] = cost
			c.mu.Unlock()
		}
	}
	if cost > c.limit {
		err := gqlerror.Errorf("operation has complexity %d, which exceeds the limit of %d", cost, c.limit)
		errcode.Set(err, "COMPLEXITY_LIMIT_EXCEEDED")
		return err
	}
	return nil
}
