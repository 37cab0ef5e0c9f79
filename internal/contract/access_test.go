package contract

import (
	"fmt"
	"testing"
	"time"
)

// authzContract exercises every entity, action and specifier.
const authzContract = `{
    "service_id": 42, "version": 1, "name": "authz", "description": "authorization tests",
    "owner": "tests", "website": "https://example.com", "supportemail": "t@example.com",
    "cors_origins": ["https://example.com"], "max_query_depth": 3,
    "jsonschema": {
        "$id": "https://example.com/authz", "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "open": {
                "type": "array", "items": {"type": "string"},
                "#accesscontrol": {
                    "member": {"permissions": ["read", "create", "update", "delete", "append", "search", "persist", "mutate", "subscribe"]},
                    "service": {"permissions": ["read", {"permission": "search", "match": "glob", "casesensitive": false}]},
                    "any_member": {"permissions": ["append"]},
                    "network": {"permissions": [
                        {"permission": "read", "relation": "family", "source_signature_required": true},
                        {"permission": "update", "relation": ["friend", "Colleague"], "distance": 2},
                        {"permission": "delete"},
                        {"permission": "subscribe", "distance": 3, "anonimized_responses": true}
                    ]}
                }
            },
            "public": {
                "type": "array", "items": {"type": "string"},
                "#accesscontrol": {
                    "member": {"permissions": ["read", "append"]},
                    "anonymous": {"permissions": [{"permission": "read", "cache": "4h"}]}
                }
            },
            "inbox": {
                "type": "array", "items": {"type": "string"},
                "#accesscontrol": {"any_member": {"permissions": ["append", "persist", "mutate", "create"]}}
            },
            "private": {
                "type": "object", "properties": {"secret": {"type": "string"}}
            },
            "empty": {
                "type": "object", "properties": {"secret": {"type": "string"}}, "#accesscontrol": {}
            },
            "profile": {
                "type": "object",
                "#accesscontrol": {
                    "member": {"permissions": ["read", "update"]},
                    "service": {"permissions": ["read"]},
                    "network": {"permissions": ["read"]}
                },
                "properties": {
                    "name": {"type": "string"},
                    "email": {
                        "type": "string",
                        "#accesscontrol": {
                            "service": {"permissions": [{"permission": "search", "match": "prefix", "casesensitive": false}]},
                            "network": {"permissions": []}
                        }
                    },
                    "status": {
                        "type": "string",
                        "#accesscontrol": {"anonymous": {"permissions": ["read"]}}
                    }
                }
            },
            "posts": {
                "type": "array", "items": {"$ref": "/schemas/post"},
                "#accesscontrol": {
                    "member": {"permissions": ["read", "append"]},
                    "network": {"permissions": [{"permission": "read", "relation": "friend"}]}
                }
            }
        },
        "$defs": {
            "post": {
                "$id": "/schemas/post", "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "draft": {"type": "string", "#accesscontrol": {"network": {"permissions": [{"permission": "read", "relation": "editor"}]}}}
                }
            }
        }
    }
}`

var allActions = []Action{ActionRead, ActionCreate, ActionUpdate, ActionDelete, ActionAppend, ActionSearch, ActionPersist, ActionMutate, ActionSubscribe}

func TestAuthorizeEveryActionPerEntity(t *testing.T) {
	c := mustParse(t, []byte(authzContract))
	family := Caller{Entity: EntityNetwork, Relations: []string{"family"}, Distance: 1}
	// want lists, per caller, the actions allowed on "open" and the entity
	// whose rule allows each.
	tests := []struct {
		name   string
		caller Caller
		want   map[Action]Entity
	}{
		{"member", Caller{Entity: EntityMember}, map[Action]Entity{
			ActionRead: EntityMember, ActionCreate: EntityMember, ActionUpdate: EntityMember, ActionDelete: EntityMember,
			ActionAppend: EntityMember, ActionSearch: EntityMember, ActionPersist: EntityMember, ActionMutate: EntityMember,
			ActionSubscribe: EntityMember}},
		{"service", Caller{Entity: EntityService}, map[Action]Entity{ActionRead: EntityService, ActionSearch: EntityService}},
		{"any_member", Caller{Entity: EntityAnyMember}, map[Action]Entity{ActionAppend: EntityAnyMember}},
		{"network family", family, map[Action]Entity{
			ActionRead: EntityNetwork, ActionDelete: EntityNetwork, ActionSubscribe: EntityNetwork,
			ActionAppend: EntityAnyMember}},
		{"anonymous", Caller{Entity: EntityAnonymous}, map[Action]Entity{}},
	}
	for _, tt := range tests {
		for _, a := range allActions {
			t.Run(fmt.Sprintf("%s/%s", tt.name, a), func(t *testing.T) {
				d := Authorize(c, tt.caller, a, "open", "")
				wantEntity, want := tt.want[a]
				if d.Allowed != want || d.Entity != wantEntity {
					t.Errorf("Authorize = %+v, want allowed %v by %v", d, want, wantEntity)
				}
				if d.Allowed && (d.Permission == nil || d.Permission.Action != a) {
					t.Errorf("permission = %+v", d.Permission)
				}
			})
		}
	}
}

func TestAuthorize(t *testing.T) {
	c := mustParse(t, []byte(authzContract))
	net := func(d int, rel ...string) Caller { return Caller{Entity: EntityNetwork, Relations: rel, Distance: d} }
	member := Caller{Entity: EntityMember}
	service := Caller{Entity: EntityService}
	anyMember := Caller{Entity: EntityAnyMember}
	anonymous := Caller{Entity: EntityAnonymous}
	tests := []struct {
		name   string
		caller Caller
		action Action
		class  string
		field  string
		want   bool
		check  func(t *testing.T, d Decision)
	}{
		// relation: a string is one relation, not its characters.
		{"relation string matches", net(1, "family"), ActionRead, "open", "", true, nil},
		{"relation string is not its letters", net(1, "f", "a", "m"), ActionRead, "open", "", false, nil},
		{"relation ignores case", net(1, "Family"), ActionRead, "open", "", true, nil},
		{"relation not listed", net(1, "friend"), ActionRead, "open", "", false, nil},
		{"relation list, one of several", net(1, "neighbour", "colleague"), ActionUpdate, "open", "", true, nil},
		{"relation list, none", net(1, "family"), ActionUpdate, "open", "", false, nil},
		{"no relation specifier matches any link", net(1, "acquaintance"), ActionDelete, "open", "", true, nil},
		{"no relation specifier, caller without relations", net(1), ActionDelete, "open", "", true, nil},
		// distance: hops from the queried pod, 1 by default.
		{"distance default is 1", net(2, "family"), ActionRead, "open", "", false, nil},
		{"distance 2 reaches 2 hops", net(2, "friend"), ActionUpdate, "open", "", true, nil},
		{"distance 2 not 3 hops", net(3, "friend"), ActionUpdate, "open", "", false, nil},
		{"distance 3 within max_query_depth", net(3), ActionSubscribe, "open", "", true, nil},
		{"beyond max_query_depth", net(4), ActionSubscribe, "open", "", false, nil},
		{"distance 0 is no network caller", net(0, "family"), ActionRead, "open", "", false, nil},
		// specifiers travel with the decision.
		{"source_signature_required", net(1, "family"), ActionRead, "open", "", true, func(t *testing.T, d Decision) {
			if !d.Permission.SourceSignatureRequired {
				t.Error("source_signature_required lost")
			}
		}},
		{"anonimized_responses", net(1), ActionSubscribe, "open", "", true, func(t *testing.T, d Decision) {
			if !d.Permission.AnonymizedResponses || d.Permission.Distance != 3 {
				t.Errorf("permission = %+v", d.Permission)
			}
		}},
		{"cache on read", anonymous, ActionRead, "public", "", true, func(t *testing.T, d Decision) {
			if d.Permission.Cache != 4*time.Hour || d.Entity != EntityAnonymous {
				t.Errorf("decision = %+v %+v", d, d.Permission)
			}
		}},
		{"search match and casesensitive", service, ActionSearch, "open", "", true, func(t *testing.T, d Decision) {
			if d.Permission.Match != "glob" || d.Permission.CaseSensitive {
				t.Errorf("permission = %+v", d.Permission)
			}
		}},
		{"search defaults", member, ActionSearch, "open", "", true, func(t *testing.T, d Decision) {
			if d.Permission.Match != "exact" || !d.Permission.CaseSensitive {
				t.Errorf("permission = %+v", d.Permission)
			}
		}},
		// anonymous rights are everyone's; owners and peers are members.
		{"member has anonymous rights", member, ActionRead, "public", "", true, nil},
		{"service has anonymous rights", service, ActionRead, "public", "", true, nil},
		{"network has anonymous rights", net(1, "x"), ActionRead, "public", "", true, nil},
		{"any_member has anonymous rights", anyMember, ActionRead, "public", "", true, nil},
		{"anonymous only read", anonymous, ActionAppend, "public", "", false, nil},
		{"owner is any_member", member, ActionAppend, "inbox", "", true, func(t *testing.T, d Decision) {
			if d.Entity != EntityAnyMember {
				t.Errorf("entity = %v", d.Entity)
			}
		}},
		{"network peer is any_member", net(1, "friend"), ActionPersist, "inbox", "", true, nil},
		{"service is not any_member", service, ActionAppend, "inbox", "", false, nil},
		{"anonymous is not any_member", anonymous, ActionMutate, "inbox", "", false, nil},
		{"any_member create", anyMember, ActionCreate, "inbox", "", true, nil},
		// no rule: only the owner, only read.
		{"no rule: owner reads", member, ActionRead, "private", "", true, nil},
		{"no rule: owner reads a field", member, ActionRead, "private", "secret", true, nil},
		{"no rule: owner may not update", member, ActionUpdate, "private", "", false, nil},
		{"no rule: service may not read", service, ActionRead, "private", "", false, nil},
		{"no rule: peer may not read", net(1, "family"), ActionRead, "private", "", false, nil},
		{"no rule: anonymous may not read", anonymous, ActionRead, "private", "", false, nil},
		{"empty #accesscontrol is no rule", member, ActionRead, "empty", "secret", true, nil},
		{"empty #accesscontrol: owner only", service, ActionRead, "empty", "", false, nil},
		// field rules replace the class's, entity by entity.
		{"field inherits class", service, ActionRead, "profile", "name", true, nil},
		{"field narrows service read", service, ActionRead, "profile", "email", false, nil},
		{"field grants service search", service, ActionSearch, "profile", "email", true, func(t *testing.T, d Decision) {
			if d.Permission.Match != "prefix" || d.Permission.CaseSensitive {
				t.Errorf("permission = %+v", d.Permission)
			}
		}},
		{"class has no service search", service, ActionSearch, "profile", "", false, nil},
		{"field removes network read", net(1, "family"), ActionRead, "profile", "email", false, nil},
		{"network reads other fields", net(1, "family"), ActionRead, "profile", "name", true, nil},
		{"unnamed entity keeps class rights", member, ActionRead, "profile", "email", true, nil},
		{"field grants anonymous read", anonymous, ActionRead, "profile", "status", true, nil},
		{"anonymous cannot read the class", anonymous, ActionRead, "profile", "name", false, nil},
		{"field of an array of objects inherits", net(1, "friend"), ActionRead, "posts", "text", true, nil},
		{"field of an array of objects narrows", net(1, "friend"), ActionRead, "posts", "draft", false, nil},
		{"field of an array of objects grants", net(1, "editor"), ActionRead, "posts", "draft", true, nil},
		// unknown names are denied.
		{"unknown class", member, ActionRead, "nothing", "", false, nil},
		{"unknown field", member, ActionRead, "profile", "nothing", false, nil},
		{"field of an array of scalars", member, ActionRead, "open", "x", false, nil},
		{"unknown action", member, Action(0), "open", "", false, nil},
		{"action out of range", member, Action(200), "open", "", false, nil},
		{"unknown entity", Caller{}, ActionRead, "public", "", false, nil},
		{"entity out of range", Caller{Entity: 99}, ActionRead, "public", "", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Authorize(c, tt.caller, tt.action, tt.class, tt.field)
			if d.Allowed != tt.want {
				t.Fatalf("Authorize(%+v, %v, %q, %q) = %+v, want allowed %v", tt.caller, tt.action, tt.class, tt.field, d, tt.want)
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
	if Authorize(nil, member, ActionRead, "open", "").Allowed {
		t.Error("nil contract allowed")
	}
}

func TestAuthorizeAddressbook(t *testing.T) {
	c := mustParse(t, readFile(t, addressbookPath))
	friend := Caller{Entity: EntityNetwork, Relations: []string{"friend"}, Distance: 1}
	// person: friends read; the service searches email but the field rule
	// takes its read away.
	if !Authorize(c, friend, ActionRead, "person", "given_name").Allowed {
		t.Error("friend cannot read given_name")
	}
	if Authorize(c, Caller{Entity: EntityService}, ActionRead, "person", "email").Allowed {
		t.Error("service reads email")
	}
	if !Authorize(c, Caller{Entity: EntityService}, ActionSearch, "person", "email").Allowed {
		t.Error("service cannot search email")
	}
	// network_assets: friends of friends of friends, not further.
	far := Caller{Entity: EntityNetwork, Relations: []string{"family"}, Distance: 3}
	if !Authorize(c, far, ActionRead, "network_assets", "").Allowed {
		t.Error("distance 3 cannot read network_assets")
	}
	far.Distance = 4
	if Authorize(c, far, ActionRead, "network_assets", "").Allowed {
		t.Error("distance 4 reads network_assets")
	}
	if !Authorize(c, Caller{Entity: EntityAnonymous}, ActionRead, "public_assets", "title").Allowed {
		t.Error("anonymous cannot read public_assets")
	}
}

func TestEntityAndActionNames(t *testing.T) {
	for e := EntityMember; e < numEntities; e++ {
		if got, ok := ParseEntity(e.String()); !ok || got != e {
			t.Errorf("ParseEntity(%q) = %v, %v", e.String(), got, ok)
		}
	}
	for _, a := range allActions {
		if got, ok := ParseAction(a.String()); !ok || got != a {
			t.Errorf("ParseAction(%q) = %v, %v", a.String(), got, ok)
		}
	}
	if _, ok := ParseEntity("owner"); ok {
		t.Error("owner parsed")
	}
	if _, ok := ParseAction("write"); ok {
		t.Error("write parsed")
	}
	if Entity(0).String() != "Entity(0)" || Action(99).String() != "Action(99)" {
		t.Error("String of unknown values")
	}
}
