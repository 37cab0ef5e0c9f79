package devnet

import (
	"encoding/json"
	"os"
	"strings"
)

func readPassword(file string) (string, error) {
	b, err := os.ReadFile(file)
	return strings.TrimRight(string(b), "\r\n"), err
}

// jsonString is s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// shellQuoteSingle makes s safe inside single quotes.
func shellQuoteSingle(s string) string { return strings.ReplaceAll(s, `'`, `'\''`) }
