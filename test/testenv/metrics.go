package testenv

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ParseMetrics reads a Prometheus text exposition (a /metrics answer) into
// its samples, each under its name and labels as the server wrote them,
// such as byoda_pod_recursive_refusals_total{reason="depth",service="4711"}.
// Comments and blank lines are skipped; a sample whose value does not
// parse is an error.
func ParseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("metrics: line %q: no value", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: line %q: %w", line, err)
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}
