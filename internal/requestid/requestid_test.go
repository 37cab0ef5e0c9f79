package requestid

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHandlerAndLog(t *testing.T) {
	var logs bytes.Buffer
	// Wrapping twice must not log the id twice.
	log := slog.New(LogHandler(LogHandler(slog.NewJSONHandler(&logs, nil)).WithAttrs(nil))).With("port", "owner")
	var seen string
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = From(r.Context())
		log.ErrorContext(r.Context(), "Storage failed")
		log.Error("Without a context")
		w.WriteHeader(http.StatusInternalServerError)
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(Header, "forged")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)

	got := rec.Header().Get(Header)
	if got == "" || got == "forged" || got != seen || len(got) != 16 {
		t.Fatalf("response id %q, handler saw %q: want a fresh 16-character id, the same in both", got, seen)
	}
	dec := json.NewDecoder(&logs)
	var first, second map[string]any
	if err := dec.Decode(&first); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&second); err != nil {
		t.Fatal(err)
	}
	if first[LogKey] != got || first["port"] != "owner" {
		t.Errorf("log record with the request's context = %v; want request_id %q and the logger's attributes", first, got)
	}
	if _, ok := second[LogKey]; ok {
		t.Errorf("log record without a context = %v; want no request_id", second)
	}
	if a, b := New(), New(); a == b {
		t.Error("two ids are equal")
	}
	if From(context.Background()) != "" {
		t.Error("From of a bare context is not empty")
	}
}
