package registry_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/byoda-go/byoda/directory/registry"
	"github.com/byoda-go/byoda/directory/registry/registrytest"
	"github.com/byoda-go/byoda/test/testenv"
)

func TestSQLite(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) string {
		return "sqlite:" + filepath.Join(t.TempDir(), "registry.db")
	})
}

// TestPostgres runs the suite against a real PostgreSQL server.
func TestPostgres(t *testing.T) {
	pg := testenv.StartPostgres(t)
	registrytest.Run(t, func(t *testing.T) string { return pg.NewDatabase(t) })
}

func TestOpenRefuses(t *testing.T) {
	for _, url := range []string{"", "mysql://x", "sqlite:", "postgres://user:secret@%zz/db"} {
		_, err := registry.Open(t.Context(), url, registry.Options{})
		if err == nil {
			t.Errorf("Open(%q) succeeded", url)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error shows the password: %v", url, err)
		}
	}
}
