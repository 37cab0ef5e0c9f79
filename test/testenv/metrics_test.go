package testenv

import (
	"strings"
	"testing"
)

func TestParseMetrics(t *testing.T) {
	got, err := ParseMetrics(strings.NewReader(`# HELP byoda_x_total Things.
# TYPE byoda_x_total counter
byoda_x_total{reason="a b",service="4711"} 3
go_goroutines 14

process_start_time_seconds 1.7e+09
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{`byoda_x_total{reason="a b",service="4711"}`: 3, "go_goroutines": 14, "process_start_time_seconds": 1.7e9}
	if len(got) != len(want) {
		t.Errorf("ParseMetrics = %v; want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v; want %v", k, got[k], v)
		}
	}
	if _, err := ParseMetrics(strings.NewReader("go_goroutines many\n")); err == nil {
		t.Error("a value that is not a number parsed")
	}
}
