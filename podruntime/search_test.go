package podruntime

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/directory"
	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/podruntime/store"
	"github.com/byoda-go/byoda/test/testenv"
)

// TestSearchValues reads the searchable values of a store whose contract
// lets the service search the person's email and every address's city:
// distinct, non-empty, sorted, at most directory.MaxSearchValues of at most
// directory.MaxSearchValueLen bytes, and says when some were left out.
func TestSearchValues(t *testing.T) {
	raw, err := contract.ReadFile(demoFile)
	if err != nil {
		t.Fatal(err)
	}
	raw = testenv.ContractVersion(t, raw, 1, map[string]any{
		"/jsonschema/$defs/address/properties/city": map[string]any{"type": "string", "#accesscontrol": map[string]any{
			"service": map[string]any{"permissions": []any{map[string]any{"permission": "search", "match": "exact"}}},
		}},
	})
	c, err := contract.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st := openTestStore(t, c)
	address := func(city string) map[string]any {
		return map[string]any{"address_id": uuid.NewString(), "created_timestamp": time.Now().Format(time.RFC3339), "city": city, "country": "NL"}
	}
	values := func() ([]string, bool) {
		t.Helper()
		vs, truncated, err := searchValues(ctx, c, st)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = v.Class + "." + v.Field + "=" + v.Value
		}
		return out, truncated
	}

	if got, truncated := values(); len(got) != 0 || truncated {
		t.Fatalf("an empty store makes %v searchable (truncated %v); want nothing", got, truncated)
	}
	if _, err := st.Mutate(ctx, "person", map[string]any{"given_name": "Joan", "family_name": "Doe", "email": "joan@example.com"}); err != nil {
		t.Fatal(err)
	}
	// Two addresses in Utrecht, one too long a city.
	if _, err := st.Append(ctx, "addresses", address("Utrecht"), address("Amsterdam"), address("Utrecht"),
		address(strings.Repeat("x", directory.MaxSearchValueLen+1))); err != nil {
		t.Fatal(err)
	}
	got, truncated := values()
	want := []string{"addresses.city=Amsterdam", "addresses.city=Utrecht", "person.email=joan@example.com"}
	if !slices.Equal(got, want) || !truncated {
		t.Fatalf("searchable %v (truncated %v); want %v, truncated for the long city", got, truncated, want)
	}

	// More cities than a member may publish, over more than one page of
	// the store.
	var many []any
	for i := range store.MaxFirst + 10 {
		many = append(many, address(fmt.Sprintf("city-%04d", i)))
	}
	if _, err := st.Append(ctx, "addresses", many...); err != nil {
		t.Fatal(err)
	}
	got, truncated = values()
	if len(got) != directory.MaxSearchValues || !truncated || !slices.IsSorted(got) || !slices.Contains(got, "person.email=joan@example.com") {
		t.Fatalf("%d values (truncated %v, sorted %v, the email in %v); want %d, truncated, sorted, with the email",
			len(got), truncated, slices.IsSorted(got), slices.Contains(got, "person.email=joan@example.com"), directory.MaxSearchValues)
	}
}
