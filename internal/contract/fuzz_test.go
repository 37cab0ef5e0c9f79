package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary documents to Parse. It must never panic, must
// report problems only as Errors with pointers, and a contract it accepts must
// survive a round trip through its canonical bytes unchanged.
func FuzzParse(f *testing.F) {
	// The seed corpus is testdata/fuzz/FuzzParse: small contracts that use
	// every feature and break every rule. The reference's 71 kB contract is
	// left out: the fuzzer minimizes every interesting input it derives, and
	// inputs that large make it spend its time minimizing.
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, not Errors: %v", err, err)
			}
			for _, e := range errs {
				if e.Message == "" || (e.Pointer != "" && !strings.HasPrefix(e.Pointer, "/")) {
					t.Fatalf("malformed error %#v", e)
				}
			}
			return
		}
		canon := c.Canonical()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%s", err, canon)
		}
		if !bytes.Equal(again.Canonical(), canon) {
			t.Fatalf("canonical form is not stable:\n%s\n%s", canon, again.Canonical())
		}
		callers := []Caller{
			{Entity: EntityMember}, {Entity: EntityService}, {Entity: EntityAnyMember},
			{Entity: EntityNetwork, Relations: []string{"family"}, Distance: 1}, {Entity: EntityAnonymous},
		}
		for _, cls := range c.Classes {
			for _, caller := range callers {
				Authorize(c, caller, ActionRead, cls.Name, "")
				if rc := cls.RecordClass(); rc != nil {
					for _, f := range rc.Fields {
						Authorize(c, caller, ActionAppend, cls.Name, f.Name)
					}
				}
			}
			_ = cls.ValidateRecord(map[string]any{})
		}
	})
}

// FuzzValidateRecord feeds arbitrary records to the validators of the demo
// contract's classes. They must never panic and must report problems only as
// Errors.
func FuzzValidateRecord(f *testing.F) {
	c := mustParse(f, readFile(f, demoPath))
	classes := c.Classes
	if data, err := os.ReadFile(addressbookPath); err == nil {
		classes = append(classes, mustParse(f, data).Classes...)
	}
	f.Fuzz(func(t *testing.T, class uint8, data []byte) {
		cls := classes[int(class)%len(classes)]
		check := func(err error) {
			var errs Errors
			if err != nil && !errors.As(err, &errs) {
				t.Fatalf("error is %T, not Errors: %v", err, err)
			}
		}
		check(cls.ValidateRecordJSON(data))
		var rec any
		if json.Unmarshal(data, &rec) == nil {
			check(cls.ValidateRecord(rec))
			if patch, ok := rec.(map[string]any); ok && cls.Kind != KindArrayOfScalars {
				check(cls.ValidatePatch(patch))
			}
		}
	})
}
