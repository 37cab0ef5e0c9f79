package contract

import (
	"testing"
)

func BenchmarkParseAddressbook(b *testing.B) {
	data := readFile(b, addressbookPath)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthorize(b *testing.B) {
	c := mustParse(b, readFile(b, addressbookPath))
	benchmarks := []struct {
		name   string
		caller Caller
		action Action
		class  string
		field  string
	}{
		{"member/class", Caller{Entity: EntityMember}, ActionRead, "person", ""},
		{"service/field", Caller{Entity: EntityService}, ActionSearch, "person", "email"},
		{"network/relation", Caller{Entity: EntityNetwork, Relations: []string{"colleague", "Family"}, Distance: 1}, ActionRead, "network_assets", "title"},
		{"anonymous/denied", Caller{Entity: EntityAnonymous}, ActionAppend, "tweets", "contents"},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Authorize(c, bm.caller, bm.action, bm.class, bm.field)
			}
		})
	}
}

func BenchmarkValidateRecord(b *testing.B) {
	c := mustParse(b, readFile(b, addressbookPath))
	asset := map[string]any{
		"created_timestamp":             "2025-01-31T12:00:00Z",
		"asset_id":                      "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
		"asset_type":                    "video",
		"asset_url":                     "https://cdn.example.com/v/1/manifest.mpd",
		"title":                         "Bees",
		"contents":                      "All about bees",
		"duration":                      312.5,
		"keywords":                      []any{"bees", "honey", "garden"},
		"screen_orientation_horizontal": true,
		"video_thumbnails": []any{map[string]any{
			"thumbnail_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3302",
			"url":          "https://cdn.example.com/v/1/t.png",
			"width":        640.0,
			"height":       480.0,
		}},
	}
	cls := c.Class("public_assets")
	if err := cls.ValidateRecord(asset); err != nil {
		b.Fatal(err)
	}
	b.Run("asset", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := cls.ValidateRecord(asset); err != nil {
				b.Fatal(err)
			}
		}
	})
	link := map[string]any{
		"created_timestamp": "2025-01-31T12:00:00Z",
		"member_id":         "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
		"relation":          "family",
	}
	links := c.Class("network_links")
	b.Run("network_link", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := links.ValidateRecord(link); err != nil {
				b.Fatal(err)
			}
		}
	})
}
