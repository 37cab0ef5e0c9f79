package contract

import (
	"fmt"
	"strings"
	"time"
)

// Entity is a kind of caller that "#accesscontrol" grants rights to.
type Entity uint8

// The entities of "#accesscontrol".
const (
	// EntityMember is the pod's own membership: its owner and the owner's
	// apps.
	EntityMember Entity = iota + 1
	// EntityService is the service itself, calling with its service
	// certificate.
	EntityService
	// EntityAnyMember is any other member of the same service.
	EntityAnyMember
	// EntityNetwork is a member the pod has a network link to, possibly
	// through other pods (see Caller.Distance).
	EntityNetwork
	// EntityAnonymous is anyone, authenticated or not.
	EntityAnonymous

	numEntities
)

var entityNames = [numEntities]string{
	EntityMember:    "member",
	EntityService:   "service",
	EntityAnyMember: "any_member",
	EntityNetwork:   "network",
	EntityAnonymous: "anonymous",
}

// String returns the entity's name in a contract.
func (e Entity) String() string {
	if e > 0 && e < numEntities {
		return entityNames[e]
	}
	return fmt.Sprintf("Entity(%d)", uint8(e))
}

// ParseEntity returns the entity with a contract name such as "any_member".
func ParseEntity(name string) (Entity, bool) {
	for e := EntityMember; e < numEntities; e++ {
		if entityNames[e] == name {
			return e, true
		}
	}
	return 0, false
}

// Action is an operation on data that "#accesscontrol" grants.
type Action uint8

// The actions of "#accesscontrol".
const (
	ActionRead Action = iota + 1
	ActionCreate
	ActionUpdate
	ActionDelete
	ActionAppend
	ActionSearch
	ActionPersist
	ActionMutate
	ActionSubscribe

	numActions
)

var actionNames = [numActions]string{
	ActionRead:      "read",
	ActionCreate:    "create",
	ActionUpdate:    "update",
	ActionDelete:    "delete",
	ActionAppend:    "append",
	ActionSearch:    "search",
	ActionPersist:   "persist",
	ActionMutate:    "mutate",
	ActionSubscribe: "subscribe",
}

// String returns the action's name in a contract.
func (a Action) String() string {
	if a > 0 && a < numActions {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// ParseAction returns the action with a contract name such as "append".
func ParseAction(name string) (Action, bool) {
	for a := ActionRead; a < numActions; a++ {
		if actionNames[a] == name {
			return a, true
		}
	}
	return 0, false
}

// Rule is the rights of one entity in an "#accesscontrol" object.
type Rule struct {
	Entity      Entity
	Permissions []Permission
}

// Permission is one entry of an entity's "permissions": an action and the
// specifiers that qualify it.
type Permission struct {
	Action Action
	// Relations restrict a network permission to links with one of these
	// relations (lower case); empty means any relation. A string
	// "relation" is one relation.
	Relations []string
	// Distance is how many hops from the queried pod a network caller may
	// be: 1 (the default) is a direct link.
	Distance int
	// Cache is how long the result of a read may be cached; zero if unset.
	Cache time.Duration
	// SourceSignatureRequired and AnonymizedResponses are the reference's
	// "source_signature_required" and "anonimized_responses" of network
	// permissions, kept for the query layer.
	SourceSignatureRequired bool
	AnonymizedResponses     bool
	// Match ("exact", "prefix", "glob" or "regex"; default "exact") and
	// CaseSensitive (default true) qualify a search permission.
	Match         string
	CaseSensitive bool
}

// ruleTable is the precomputed form of the rules that apply to a class or to
// a field of its records, so that Authorize is a few array lookups.
type ruleTable struct {
	// grant holds, per entity other than network and per action, the first
	// permission granting it.
	grant [numEntities][numActions]*Permission
	// network holds the network permissions per action; they depend on the
	// caller's relations and distance.
	network [numActions][]*Permission
}

// ownerRead is the right a class without "#accesscontrol" gives: its owner
// may read it, nobody else may do anything.
var ownerRead = &Permission{Action: ActionRead}

// newRuleTable builds the table of a class's rules.
func newRuleTable(rules []Rule) *ruleTable {
	t := &ruleTable{}
	if rules == nil {
		t.grant[EntityMember][ActionRead] = ownerRead
		return t
	}
	t.add(rules)
	return t
}

func (t *ruleTable) add(rules []Rule) {
	for ri := range rules {
		r := &rules[ri]
		for pi := range r.Permissions {
			p := &r.Permissions[pi]
			if r.Entity == EntityNetwork {
				t.network[p.Action] = append(t.network[p.Action], p)
			} else if t.grant[r.Entity][p.Action] == nil {
				t.grant[r.Entity][p.Action] = p
			}
		}
	}
}

// override returns the table of a field with rules of its own: for each
// entity the field names, the field's rules replace the class's; the other
// entities keep the class's rights.
func (t *ruleTable) override(rules []Rule) *ruleTable {
	ft := &ruleTable{grant: t.grant}
	named := [numEntities]bool{}
	for _, r := range rules {
		named[r.Entity] = true
	}
	for e := EntityMember; e < numEntities; e++ {
		if named[e] {
			ft.grant[e] = [numActions]*Permission{}
		}
	}
	if !named[EntityNetwork] {
		ft.network = t.network
	}
	ft.add(rules)
	return ft
}

// Caller is who asks a pod for data, as the pod established it from the
// caller's credentials and its own network links.
type Caller struct {
	// Entity is the caller's role: EntityMember for the pod's owner,
	// EntityService for the service, EntityAnyMember for another member of
	// the service without a link, EntityNetwork for a member with one, and
	// EntityAnonymous for anyone else.
	Entity Entity
	// Relations are the relations of the link to a network caller.
	Relations []string
	// Distance is how many hops the network caller is from the queried pod:
	// 1 for a direct link.
	Distance int
}

// Decision is the answer of Authorize.
type Decision struct {
	Allowed bool
	// Entity is the entity whose rule allowed the action.
	Entity Entity
	// Permission is the rule that allowed the action, with its specifiers
	// (such as Cache for a read). It belongs to the contract: do not modify
	// it.
	Permission *Permission
}

// entitiesOf lists, per role of a caller, the entities whose rights the caller
// has, most specific first. Every caller has the rights of anonymous; a
// network peer and the owner are members of the service and so have those of
// any_member too (as in the reference, where any_member accepts any
// membership of the service, the pod's own included). The service is not a
// member.
var entitiesOf = [numEntities][]Entity{
	EntityMember:    {EntityMember, EntityAnyMember, EntityAnonymous},
	EntityService:   {EntityService, EntityAnonymous},
	EntityAnyMember: {EntityAnyMember, EntityAnonymous},
	EntityNetwork:   {EntityNetwork, EntityAnyMember, EntityAnonymous},
	EntityAnonymous: {EntityAnonymous},
}

// Authorize decides whether caller may perform action on a top-level class,
// or on one field of its records when field is not empty. It is pure and
// cheap: the rules were compiled when the contract was parsed.
//
// Rights are OR-ed: the caller is allowed if any rule of an entity it counts
// as (see Caller) grants the action. A field's own "#accesscontrol" narrows
// or changes its class's rules, entity by entity: for each entity the field
// names, the field's permissions replace the class's on that field; entities
// it does not name keep their rights on the class. A class without
// "#accesscontrol" may only be read, and only by its owner. A network rule
// matches when the caller is at most Distance hops away (and no further than
// the contract's max_query_depth) and, if it names relations, one of the
// caller's relations is among them, ignoring case. An unknown class, field,
// action or entity is denied.
func Authorize(c *Contract, caller Caller, action Action, class, field string) Decision {
	if c == nil || action == 0 || action >= numActions || caller.Entity == 0 || caller.Entity >= numEntities {
		return Decision{}
	}
	cls := c.classes[class]
	if cls == nil {
		return Decision{}
	}
	t := cls.rights
	if field != "" {
		if ft, ok := cls.fieldRights[field]; ok {
			t = ft
		} else if cls.Field(field) == nil {
			return Decision{}
		}
	}
	for _, e := range entitiesOf[caller.Entity] {
		if e == EntityNetwork {
			if p := t.matchNetwork(c.MaxQueryDepth, caller, action); p != nil {
				return Decision{Allowed: true, Entity: e, Permission: p}
			}
			continue
		}
		if p := t.grant[e][action]; p != nil {
			return Decision{Allowed: true, Entity: e, Permission: p}
		}
	}
	return Decision{}
}

func (t *ruleTable) matchNetwork(maxDepth int, caller Caller, action Action) *Permission {
	if caller.Distance < 1 || caller.Distance > maxDepth {
		return nil
	}
	for _, p := range t.network[action] {
		if caller.Distance > p.Distance {
			continue
		}
		if len(p.Relations) == 0 {
			return p
		}
		for _, want := range p.Relations {
			for _, have := range caller.Relations {
				if strings.EqualFold(want, have) {
					return p
				}
			}
		}
	}
	return nil
}

// MaxClockSkew is how far in the future a signature's timestamp may be, to
// allow for clocks that differ between machines.
const MaxClockSkew = 30 * time.Second
