package podruntime

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/config/samples/contracts"
	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/podruntime/graphql"
	"github.com/byoda-go/byoda/podruntime/peer"
)

// FuzzParseAnswer feeds arbitrary bodies, as another pod's answer to a
// forwarded addresses query, to parseAnswer: it must not panic, must
// refuse with a peer error, and what it accepts must hold at most a page
// of records, each with an origin and a cursor, only the peer's own at
// depth 0, and a bounded list of unanswered peers.
func FuzzParseAnswer(f *testing.F) {
	c, err := contract.Parse(contracts.AddressbookDemo)
	if err != nil {
		f.Fatal(err)
	}
	mid := uuid.MustParse("3f2504e0-4f89-41d3-9a0c-0305e82c3301")
	other := uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	edge := func(origin uuid.UUID) string {
		return fmt.Sprintf(`{"cursor":"AQ","origin":%q,"node":{"city":"Amsterdam","created_timestamp":"2026-01-01T00:00:00Z"}}`, origin)
	}
	f.Add([]byte(`{"data":{"addresses_connection":{"edges":[`+edge(mid)+`],"page_info":{"has_next_page":true},"total_count":3}}}`), uint8(0))
	f.Add([]byte(`{"data":{"addresses_connection":{"edges":[`+edge(mid)+`,`+edge(other)+`],"page_info":{"has_next_page":false}}},`+
		`"extensions":{"unanswered_peers":[{"member_id":"`+other.String()+`","reason":"timeout","error":"slow"}]}}`), uint8(1))
	f.Add([]byte(`{"data":null,"errors":[{"message":"forbidden","extensions":{"code":"FORBIDDEN"}}]}`), uint8(1))
	f.Add([]byte(`{"data":{"addresses_connection":{"edges":[{"cursor":"","origin":"x","node":1e999}]}}}`), uint8(1))
	f.Add([]byte(`{"data":{"addresses_connection":null},"extensions":{"unanswered_peers":{}}}`), uint8(2))
	f.Fuzz(func(t *testing.T, body []byte, depth uint8) {
		var resp peer.Response
		// As peer.Client.GraphQL reads an answer.
		if err := json.Unmarshal(body, &resp); err != nil || (resp.Data == nil && resp.Errors == nil) {
			return
		}
		q := &graphql.RemoteQuery{Class: c.Class("addresses"), Query: graphql.Query{First: 2}}
		d := int(depth % 3)
		ans, err := parseAnswer(mid, q, d, &resp)
		if err != nil {
			var pe *peer.Error
			if !errors.As(err, &pe) || (pe.Kind != peer.KindInvalid && pe.Kind != peer.KindRefused) || pe.Member != mid {
				t.Fatalf("error %v (%T): want a peer error, invalid or refused, of the peer", err, err)
			}
			return
		}
		if len(ans.part.Items) > q.Query.First {
			t.Fatalf("%d records for a page of %d", len(ans.part.Items), q.Query.First)
		}
		for _, it := range ans.part.Items {
			if it.Cursor == "" || len(it.Cursor) > 64 {
				t.Fatalf("record %+v: want a cursor of 1 to 64 bytes", it)
			}
			if d == 0 && it.Origin != mid {
				t.Fatalf("a record of %s at depth 0", it.Origin)
			}
		}
		if len(ans.unanswered) > maxUnanswered {
			t.Fatalf("%d unanswered peers", len(ans.unanswered))
		}
		for _, u := range ans.unanswered {
			m := u.(map[string]any)
			if len(m["reason"].(string)) > maxReasonLen+3 || len(m["error"].(string)) > maxReasonLen+3 || m["via"] != mid.String() {
				t.Fatalf("unanswered peer %v: want clipped texts, via the peer", m)
			}
		}
	})
}
