package devnet

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/ownerclient"
)

// seededFile marks a state directory whose pods hold the demo data.
const seededFile = "seeded"

// person is a person of the demo and their data.
type person struct {
	given, family, email string
	addresses            []address
	posts                []string
}

type address struct{ label, street, postalCode, city, country string }

var demoPeople = map[string]person{
	"suzie": {given: "Suzie", family: "Doe", email: "suzie@example.com", addresses: []address{
		{"home", "Keizersgracht 1", "1015 CJ", "Amsterdam", "NL"},
		{"work", "Oudegracht 100", "3511 AX", "Utrecht", "NL"},
	}},
	"mike": {given: "Mike", family: "Doe", email: "mike@example.com", addresses: []address{
		{"home", "Rue Neuve 2", "1000", "Brussels", "BE"},
	}},
	"jane": {given: "Jane", family: "Roe", email: "jane@example.com", addresses: []address{
		{"home", "Unter den Linden 3", "10117", "Berlin", "DE"},
	}},
	"alice": {given: "Alice", family: "Smith", email: "alice@example.com", addresses: []address{
		{"home", "Baker Street 221B", "NW1 6XE", "London", "GB"},
	}, posts: []string{"Hello from Alice: my first post on byoda"}},
}

// DemoLinks are the demo's network links: from, to, relation. Family and
// friends link both ways; Suzie follows Alice.
var DemoLinks = [][3]string{
	{"suzie", "mike", "family"}, {"mike", "suzie", "family"},
	{"mike", "jane", "family"}, {"jane", "mike", "family"},
	{"suzie", "alice", "friend"}, {"alice", "suzie", "friend"},
	{"suzie", "alice", "follow"},
}

// seed puts the demo data in the pods, once.
func seed(ctx context.Context, dir string, st *State) error {
	marker := filepath.Join(dir, seededFile)
	if _, err := os.Stat(marker); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	owners := map[string]*ownerclient.Client{}
	byName := map[string]*PodState{}
	for i := range st.Pods {
		p := &st.Pods[i]
		o, err := Login(ctx, st, p, st.ServiceID)
		if err != nil {
			return err
		}
		owners[p.Name], byName[p.Name] = o, p
	}
	now := time.Now().UTC().Format(time.RFC3339)
	for name, o := range owners {
		who := demoPeople[name]
		if err := o.Mutate(ctx, `mutation($g: String!, $f: String!, $e: String) { mutate_person(given_name: $g, family_name: $f, email: $e) }`,
			map[string]any{"g": who.given, "f": who.family, "e": who.email}); err != nil {
			return err
		}
		for _, a := range who.addresses {
			if err := o.Mutate(ctx, `mutation($id: UUID!, $ts: DateTime!, $l: String, $s: String, $p: String, $c: String!, $n: String!) {
				append_addresses(address_id: $id, created_timestamp: $ts, label: $l, street: $s, postal_code: $p, city: $c, country: $n) }`,
				map[string]any{"id": uuid.NewString(), "ts": now, "l": a.label, "s": a.street, "p": a.postalCode, "c": a.city, "n": a.country}); err != nil {
				return err
			}
		}
		for _, text := range who.posts {
			if err := o.Mutate(ctx, `mutation($id: UUID!, $ts: DateTime!, $t: String!) { append_posts(post_id: $id, created_timestamp: $ts, text: $t) }`,
				map[string]any{"id": uuid.NewString(), "ts": now, "t": text}); err != nil {
				return err
			}
		}
	}
	for _, l := range DemoLinks {
		to := byName[l[1]].MemberID(st.ServiceID)
		if err := owners[l[0]].Mutate(ctx, `mutation($ts: DateTime!, $m: UUID!, $r: String!) { append_network_links(created_timestamp: $ts, member_id: $m, relation: $r) }`,
			map[string]any{"ts": now, "m": to.String(), "r": l[2]}); err != nil {
			return err
		}
	}
	return writeFile(marker, []byte(now+"\n"), 0o644)
}
